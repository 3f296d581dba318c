//! A minimal, dependency-light PNG encoder and a deterministic picture generator.

use crate::rng::{fnv1a, mix, Rng};
use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};
use std::io::Write;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// Encodes an 8-bit RGB image as PNG. `rgb` holds `width * height * 3` bytes,
/// row by row; a shorter buffer is padded with black.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let row_len = width as usize * 3;
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    let zero_row = vec![0u8; row_len];
    for y in 0..height as usize {
        let start = y * row_len;
        let row = rgb.get(start..start + row_len).unwrap_or(&zero_row);
        // Filter type 0 (None) for every scanline; writing to a Vec cannot fail.
        let _ = encoder.write_all(&[0]);
        let _ = encoder.write_all(row);
    }
    let idat = encoder.finish().unwrap_or_default();

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // depth 8, truecolour, deflate, adaptive filtering, no interlace

    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(&SIGNATURE);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn color(rng: &mut Rng) -> [f32; 3] {
    [rng.below(256) as f32, rng.below(256) as f32, rng.below(256) as f32]
}

/// Renders a deterministic abstract picture for a prompt, seed and image index:
/// a diagonal gradient between two colours, a soft checker pattern and a disc.
pub fn render(prompt: &str, seed: u64, index: u32, width: u32, height: u32) -> Vec<u8> {
    let mut rng = Rng::new(mix(mix(fnv1a(prompt.as_bytes()), seed), u64::from(index)));
    let a = color(&mut rng);
    let b = color(&mut rng);
    let disc = color(&mut rng);
    let cell = 16 + rng.below(48) as u32;
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let cx = w * (0.25 + 0.5 * rng.unit_f64() as f32);
    let cy = h * (0.25 + 0.5 * rng.unit_f64() as f32);
    let radius = w.min(h) * (0.15 + 0.2 * rng.unit_f64() as f32);
    let r2 = radius * radius;
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32, y as f32);
            let dx = fx - cx;
            let dy = fy - cy;
            let pixel = if dx * dx + dy * dy <= r2 {
                disc
            } else {
                let t = (fx / w + fy / h) / 2.0;
                let shade = if ((x / cell) + (y / cell)).is_multiple_of(2) { 1.0 } else { 0.85 };
                [
                    (a[0] + (b[0] - a[0]) * t) * shade,
                    (a[1] + (b[1] - a[1]) * t) * shade,
                    (a[2] + (b[2] - a[2]) * t) * shade,
                ]
            };
            rgb.extend(pixel.iter().map(|c| c.clamp(0.0, 255.0) as u8));
        }
    }
    encode_rgb(width, height, &rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_size() {
        let png = render("a lighthouse", 1, 0, 64, 32);
        assert_eq!(&png[..8], &SIGNATURE);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([png[16], png[17], png[18], png[19]]), 64);
        assert_eq!(u32::from_be_bytes([png[20], png[21], png[22], png[23]]), 32);
        assert_eq!(png, render("a lighthouse", 1, 0, 64, 32));
        assert_ne!(png, render("a lighthouse", 2, 0, 64, 32));
    }
}
