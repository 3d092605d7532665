//! Array accesses whose bounds check survives the optimiser, so the kernel's verifier sees it.
//!
//! The verifier judges the instructions the compiler emits, not the Rust source. Where LLVM can
//! prove an index in range (an enum's discriminant, a value masked a few lines earlier), it
//! removes the bounds check of `slice::get`; an older verifier that has lost track of the value
//! on the way (for example across a narrow stack spill) then refuses the access as unbounded.
//! LLVM 23 did exactly that to the drop counters, and Linux 6.1 refused the XDP program.
//!
//! [`get`] and [`get_mut`] first pass the index through a volatile read, which the compiler must
//! perform and cannot reason about, so the comparison that follows is always emitted, on the
//! register the access then uses. It costs a stack store and a load.

/// `index`, with everything the compiler knows about its value forgotten.
#[inline(always)]
fn opaque(index: usize) -> usize {
    // SAFETY: a read of a live local variable.
    unsafe { core::ptr::read_volatile(&index) }
}

/// The element of `array` at `index`, with a bounds check that the verifier can see.
#[inline(always)]
pub fn get<T, const N: usize>(array: &[T; N], index: usize) -> Option<&T> {
    let index = opaque(index);
    if index < N { array.get(index) } else { None }
}

/// The element of `array` at `index`, mutably, with a bounds check that the verifier can see.
#[inline(always)]
pub fn get_mut<T, const N: usize>(array: &mut [T; N], index: usize) -> Option<&mut T> {
    let index = opaque(index);
    if index < N {
        array.get_mut(index)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_inside_the_array_reach_their_element() {
        let mut array = [10, 20, 30];
        assert_eq!(get(&array, 2), Some(&30));
        *get_mut(&mut array, 0).unwrap() += 1;
        assert_eq!(array[0], 11);
    }

    #[test]
    fn indexes_past_the_end_reach_nothing() {
        let mut array = [0u8; 4];
        assert_eq!(get(&array, 4), None);
        assert_eq!(get_mut(&mut array, usize::MAX), None);
    }
}
