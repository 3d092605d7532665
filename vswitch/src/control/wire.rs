//! Framing: one message per direction, a line of at most [`MAX_MESSAGE`] bytes.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::protocol::{MAX_MESSAGE, ProtocolError};

/// Reads one message: up to a newline or the end of the stream, at most [`MAX_MESSAGE`] bytes.
pub async fn read<R: AsyncRead + Unpin>(reader: R) -> Result<Vec<u8>, ProtocolError> {
    let mut line = Vec::new();
    // One byte more than allowed tells a full-size message from a longer one.
    let limit = u64::try_from(MAX_MESSAGE).expect("64 KiB fits") + 1;
    BufReader::new(reader.take(limit))
        .read_until(b'\n', &mut line)
        .await
        .map_err(ProtocolError::Io)?;
    if line.len() > MAX_MESSAGE {
        return Err(ProtocolError::TooLarge);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(ProtocolError::Empty);
    }
    Ok(line)
}

/// Writes one message and closes the writing side.
pub async fn write<W: AsyncWrite + Unpin>(mut writer: W, message: &[u8]) -> std::io::Result<()> {
    writer.write_all(message).await?;
    writer.shutdown().await
}
