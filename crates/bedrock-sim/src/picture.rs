//! A deterministic picture generator, encoded as PNG.

use crate::rng::{fnv1a, mix, Rng};

/// Encodes an 8-bit RGB image as PNG. `rgb` holds `width * height * 3` bytes,
/// row by row; a shorter buffer is padded with black.
pub(crate) fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let len = width as usize * height as usize * 3;
    let pixels = match rgb.get(..len) {
        Some(exact) => std::borrow::Cow::Borrowed(exact),
        None => {
            let mut padded = rgb.to_vec();
            padded.resize(len, 0);
            std::borrow::Cow::Owned(padded)
        }
    };
    let mut out = Vec::with_capacity(len / 4 + 64);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // The pictures are smooth gradients. Paeth-filtered rows are nearly constant, which the
    // crate's `Fast` encoder packs into about 200 KB a 1024×1024 picture in a third of the CPU
    // zlib's default level takes (about 110 KB unfiltered); unfiltered, `Fast` would store them
    // nearly raw (3 MB). The sim renders every image a course asks for on the machine that runs
    // the course, so its CPU shows in fan-out measurements.
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::FilterType::Paeth);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

fn color(rng: &mut Rng) -> [f32; 3] {
    [rng.below(256) as f32, rng.below(256) as f32, rng.below(256) as f32]
}

/// Renders a deterministic abstract picture for a prompt, seed and image index:
/// a diagonal gradient between two colours, a soft checker pattern and a disc.
pub(crate) fn render(
    prompt: &str,
    seed: u64,
    index: u32,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, png::EncodingError> {
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
    // Row by row in 16.16 fixed point: along a row the gradient grows by the same step a pixel,
    // so a pixel is three integer additions instead of three float-to-byte conversions; the disc
    // is drawn over the span of each row it covers. The sim renders every picture a course asks
    // for on the machine that runs the course, so this loop's CPU shows in fan-out measurements.
    const ONE: f32 = 65536.0;
    let odd_columns: Vec<bool> = (0..width).map(|x| (x / cell) % 2 == 1).collect();
    let step: [i32; 3] = std::array::from_fn(|c| ((b[c] - a[c]) / (2.0 * w) * ONE) as i32);
    let row_len = width as usize * 3;
    let mut rgb = vec![0u8; row_len * height as usize];
    for (y, row) in (0..height).zip(rgb.chunks_exact_mut(row_len)) {
        let fy = y as f32;
        let t = fy / h / 2.0;
        let mut value: [i32; 3] = std::array::from_fn(|c| ((a[c] + (b[c] - a[c]) * t) * ONE) as i32);
        let odd_row = (y / cell) % 2 == 1;
        for (&odd_column, out) in odd_columns.iter().zip(row.chunks_exact_mut(3)) {
            // Light and dark squares, the dark ones at 7/8 of the light.
            let dark = odd_column != odd_row;
            for c in 0..3 {
                let v = (value[c] >> 16).clamp(0, 255);
                out[c] = if dark { v - (v >> 3) } else { v } as u8;
                value[c] += step[c];
            }
        }
        let dy = fy - cy;
        let rest = r2 - dy * dy;
        if rest >= 0.0 {
            let half = rest.sqrt();
            let first = (cx - half).ceil().max(0.0) as usize;
            let end = ((cx + half).floor() + 1.0).clamp(0.0, w) as usize;
            let disc = disc.map(|c| c as u8);
            for x in first..end {
                row[x * 3..x * 3 + 3].copy_from_slice(&disc);
            }
        }
    }
    encode_rgb(width, height, &rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(bytes).read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).expect("one frame");
        (info, pixels)
    }

    #[test]
    fn renders_a_deterministic_rgb_png_of_the_requested_size() {
        let png = render("a lighthouse", 1, 0, 64, 32).expect("encodes");
        let (info, pixels) = decode(&png);
        assert_eq!((info.width, info.height), (64, 32));
        assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight));
        assert_eq!(pixels.len(), 64 * 32 * 3);
        assert_eq!(png, render("a lighthouse", 1, 0, 64, 32).expect("encodes"));
        assert_ne!(png, render("a lighthouse", 2, 0, 64, 32).expect("encodes"));
    }

    #[test]
    fn a_short_buffer_is_padded_with_black() {
        let png = encode_rgb(2, 2, &[255, 255, 255]).expect("encodes");
        let (_, pixels) = decode(&png);
        assert_eq!(pixels, [255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
}
