//! A deterministic picture generator, encoded as PNG.

use crate::rng::{fnv1a, mix, Rng};

/// Encodes an 8-bit RGB image as PNG. `rgb` holds `width * height * 3` bytes,
/// row by row; a shorter buffer is padded with black.
pub(crate) fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let len = width as usize * height as usize * 3;
    let mut pixels = rgb.get(..len).unwrap_or(rgb).to_vec();
    pixels.resize(len, 0);
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
