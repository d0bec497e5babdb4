//! A ustar archive written as a stream: each entry's header, then its bytes as they come,
//! then the padding; two zero blocks at the end. Names are at most 100 bytes (the bundle's
//! longest is `blobs/sha256/` and 64 hex digits), so no extension headers are needed.

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A tar block.
pub const BLOCK: u64 = 512;

/// The header of a regular file `name` of `size` bytes (mode 0644, owner 0, mtime `mtime`).
pub fn header(name: &str, size: u64, mtime: u64) -> std::io::Result<[u8; BLOCK as usize]> {
    if name.len() > 100 || name.is_empty() {
        return Err(std::io::Error::other(format!("tar entry name too long: {name}")));
    }
    let mut h = [0u8; BLOCK as usize];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8; BLOCK as usize], at: usize, width: usize, value: u64| {
        let text = format!("{value:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(text.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    if size >= 8u64.pow(11) {
        return Err(std::io::Error::other(format!("tar entry too large: {name} ({size} bytes)")));
    }
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, mtime);
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// The zero bytes that pad an entry of `size` bytes to a whole block.
pub fn padding(size: u64) -> &'static [u8] {
    const ZEROS: [u8; BLOCK as usize] = [0; BLOCK as usize];
    let rest = (size % BLOCK) as usize;
    if rest == 0 { &[] } else { &ZEROS[..BLOCK as usize - rest] }
}

/// Writes a whole small entry.
pub async fn entry<W: AsyncWrite + Unpin>(
    out: &mut W,
    name: &str,
    bytes: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    out.write_all(&header(name, bytes.len() as u64, mtime)?).await?;
    out.write_all(bytes).await?;
    out.write_all(padding(bytes.len() as u64)).await
}

/// Ends the archive.
pub async fn finish<W: AsyncWrite + Unpin>(out: &mut W) -> std::io::Result<()> {
    out.write_all(&[0u8; BLOCK as usize * 2]).await?;
    out.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_checksum_and_pad() {
        let h = header("blobs/sha256/ab", 5, 0).unwrap();
        let stored: u32 =
            u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(padding(5).len(), 507);
        assert!(padding(1024).is_empty());
        assert!(header(&"x".repeat(101), 1, 0).is_err());
    }
}
