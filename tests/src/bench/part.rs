//! The parts of a run, which `bench --only` picks from.

/// A part of a run: a group of rows measured together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// 64 B XDP-sourced unicast, every unicast peer.
    Xdp,
    /// Flood to four sinks.
    Flood,
    /// Broadcast forwarding rate against the port count.
    Broadcast,
    /// 64 B stack-sourced unicast, ping and TCP.
    Stack,
    /// Fully meshed forwarding.
    Mesh,
    /// FDB size, memory, address learning and caching, install and start-up.
    Scale,
    /// Live changes.
    Live,
    /// `BPF_PROG_TEST_RUN` cost per branch.
    Branches,
    /// The programs' instruction counts.
    Programs,
    /// VXLAN against the kernel's.
    Vxlan,
    /// Several hosts through etcd: convergence and scale.
    Cluster,
}

impl Part {
    /// Every part, in run order.
    pub const ALL: [Self; 11] = [
        Self::Xdp,
        Self::Flood,
        Self::Broadcast,
        Self::Stack,
        Self::Mesh,
        Self::Scale,
        Self::Live,
        Self::Branches,
        Self::Programs,
        Self::Vxlan,
        Self::Cluster,
    ];

    /// The name `--only` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Xdp => "xdp",
            Self::Flood => "flood",
            Self::Broadcast => "broadcast",
            Self::Stack => "stack",
            Self::Mesh => "mesh",
            Self::Scale => "scale",
            Self::Live => "live",
            Self::Branches => "branches",
            Self::Programs => "programs",
            Self::Vxlan => "vxlan",
            Self::Cluster => "cluster",
        }
    }

    /// The part called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|part| part.name() == name)
    }

    /// Parses `--only`'s comma-separated list; the error names the unknown part and the known
    /// ones.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        list.split(',')
            .map(|name| {
                Self::named(name.trim()).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.into_iter().map(Self::name).collect();
                    format!("unknown part {name:?}; the parts: {}", known.join(", "))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_is_found_by_its_name_and_unknown_names_are_refused() {
        for part in Part::ALL {
            assert_eq!(Part::named(part.name()), Some(part));
        }
        assert_eq!(
            Part::parse_list("stack,mesh"),
            Ok(vec![Part::Stack, Part::Mesh])
        );
        let error = Part::parse_list("stack,meshed").expect_err("an unknown part");
        assert!(
            error.contains("\"meshed\"") && error.contains("mesh"),
            "{error}"
        );
    }
}
