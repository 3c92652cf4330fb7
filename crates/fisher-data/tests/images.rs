//! Image folders, CelebA folders and PNG grids, on small files the tests write.

mod common;

use std::path::Path;

use common::TempDir;
use fisher_core::{ImageBatch, ImageShape};
use fisher_data::{
    CelebaConfig, CelebaPartition, Crop, Error, FolderConfig, GridLayout, ImageFiles,
};
use image::{Rgb, RgbImage};

fn save(image: &RgbImage, path: &Path) {
    image.save(path).unwrap();
}

/// A `w × h` image whose colour is `inside` in the centred `cw × ch` window, `outside` around.
fn framed(w: u32, h: u32, cw: u32, ch: u32, inside: [u8; 3], outside: [u8; 3]) -> RgbImage {
    let (x0, y0) = ((w - cw) / 2, (h - ch) / 2);
    RgbImage::from_fn(w, h, |x, y| {
        let within = (x0..x0 + cw).contains(&x) && (y0..y0 + ch).contains(&y);
        Rgb(if within { inside } else { outside })
    })
}

fn assert_all_close(pixels: &[u8], channel_values: [u8; 3], plane: usize) {
    for (c, want) in channel_values.iter().enumerate() {
        for &p in &pixels[c * plane..(c + 1) * plane] {
            assert!(p.abs_diff(*want) <= 1, "channel {c}: {p} != {want}");
        }
    }
}

#[test]
fn folder_round_trips_images_at_their_own_size() {
    let tmp = TempDir::new("folder-roundtrip");
    let faces = fisher_data::Faces::new(fisher_data::FacesConfig::default(), 3).unwrap();
    let data = faces.generate(0, 3).unwrap();
    let grid = GridLayout::new(1, 1).with_gap(0);
    for i in 0..3 {
        let one = data.images().select(&[i]);
        fisher_data::write_grid(tmp.join(&format!("face{i}.png")), &one, &grid).unwrap();
    }
    std::fs::write(tmp.join("notes.txt"), "not an image").unwrap();

    let config = FolderConfig {
        crop: Crop::Whole,
        ..FolderConfig::default()
    };
    let files = ImageFiles::folder(tmp.path(), &config).unwrap();
    assert_eq!(files.len(), 3, "the text file is skipped");
    let loaded = files.load().unwrap();
    assert_eq!(loaded.images(), data.images());
    assert!(loaded.attributes().names().is_empty());
}

#[test]
fn folder_crops_resizes_and_reads_attributes() {
    let tmp = TempDir::new("folder-attributes");
    save(
        &framed(60, 20, 20, 20, [0, 200, 0], [200, 0, 0]),
        &tmp.join("b.png"),
    );
    save(
        &framed(30, 30, 30, 30, [10, 20, 250], [0; 3]),
        &tmp.join("a.jpg"),
    );
    let csv = tmp.join("attributes.csv");
    std::fs::write(&csv, "file,wide,blue\nb.png,1,0\na.jpg,0,1\n").unwrap();

    let config = FolderConfig::default().with_size(8).with_attributes(&csv);
    let files = ImageFiles::folder(tmp.path(), &config).unwrap();
    let data = files.load().unwrap();
    assert_eq!(data.images().shape().to_array(), [3, 8, 8]);
    assert_eq!(
        files.paths()[0].file_name().unwrap(),
        "a.jpg",
        "sorted by name"
    );
    assert_eq!(data.attributes().column("wide").unwrap(), [false, true]);
    assert_eq!(data.attributes().column("blue").unwrap(), [true, false]);

    let jpeg = data.images().image(0);
    let plane = 64;
    assert!(
        jpeg[2 * plane..].iter().all(|&b| b > 230),
        "JPEG decoded, blue kept"
    );
    assert_all_close(data.images().image(1), [0, 200, 0], plane);

    let streamed: Vec<u8> = files
        .stream(1)
        .unwrap()
        .flat_map(|b| b.unwrap().images().as_slice().to_vec())
        .collect();
    assert_eq!(streamed, data.images().as_slice());

    let err = data.attributes().column("smiling").unwrap_err();
    assert!(err.to_string().contains("available: wide, blue"), "{err}");
}

#[test]
fn grayscale_folder_has_one_channel() {
    let tmp = TempDir::new("folder-gray");
    save(
        &framed(16, 16, 16, 16, [255, 255, 255], [0; 3]),
        &tmp.join("white.png"),
    );
    let config = FolderConfig {
        channels: 1,
        ..FolderConfig::default().with_size(4)
    };
    let data = ImageFiles::folder(tmp.path(), &config)
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(data.images().as_slice(), &[255; 16]);
}

#[test]
fn folder_errors_name_the_file() {
    let tmp = TempDir::new("folder-errors");
    std::fs::write(tmp.join("readme.txt"), "hello").unwrap();
    let err = ImageFiles::folder(tmp.path(), &FolderConfig::default()).unwrap_err();
    assert!(matches!(err, Error::EmptyFolder { .. }), "{err}");

    std::fs::write(
        tmp.join("broken.png"),
        b"\x89PNG\r\n\x1a\n but then garbage",
    )
    .unwrap();
    let files = ImageFiles::folder(tmp.path(), &FolderConfig::default()).unwrap();
    let err = files.load().unwrap_err();
    let Error::Image { path, .. } = &err else {
        panic!("expected Image, got {err}");
    };
    assert!(path.ends_with("broken.png"));
    let mut stream = files.stream(4).unwrap();
    assert!(matches!(stream.next(), Some(Err(Error::Image { .. }))));
    assert!(stream.next().is_none());

    let csv = tmp.join("a.csv");
    std::fs::write(&csv, "file,x\nother.png,1\n").unwrap();
    let config = FolderConfig::default().with_attributes(&csv);
    let err = ImageFiles::folder(tmp.path(), &config).unwrap_err();
    assert!(
        err.to_string().contains("no row for image \"broken.png\""),
        "{err}"
    );

    std::fs::write(&csv, "file,x\nbroken.png,maybe\n").unwrap();
    let err = ImageFiles::folder(tmp.path(), &config).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("x = \"maybe\""), "{err}");
}

/// A tiny CelebA folder: `n` 178×218 PNG images, green in the 148×148 centre, red around;
/// attributes `Smiling` (even rows) and `Eyeglasses` (rows divisible by 3); partitions
/// 0, 0, 1, 2, 2, ...
fn celeba_folder(tmp: &TempDir, n: usize) {
    let images = tmp.join("img_align_celeba");
    std::fs::create_dir_all(&images).unwrap();
    let mut list = format!("{n}\nSmiling Eyeglasses \n");
    let mut parts = String::new();
    for i in 0..n {
        let name = format!("{:06}.png", i + 1);
        let face = framed(178, 218, 148, 148, [0, 180, 0], [220, 0, 0]);
        save(&face, &images.join(&name));
        let flag = |b: bool| if b { " 1" } else { "-1" };
        list += &format!("{name} {} {}\n", flag(i % 2 == 0), flag(i % 3 == 0));
        parts += &format!("{name} {}\n", [0, 0, 1, 2][i.min(3)]);
    }
    std::fs::write(tmp.join("list_attr_celeba.txt"), list).unwrap();
    std::fs::write(tmp.join("list_eval_partition.txt"), parts).unwrap();
}

#[test]
fn celeba_crops_the_centre_square_and_reads_attributes() {
    let tmp = TempDir::new("celeba");
    celeba_folder(&tmp, 5);

    for size in [32, 64] {
        let config = CelebaConfig::default().with_size(size);
        let files = ImageFiles::celeba(tmp.path(), &config).unwrap();
        let data = files.load().unwrap();
        assert_eq!(data.images().shape().to_array(), [3, size, size]);
        assert_eq!(data.images().len(), 5);
        for i in 0..5 {
            assert_all_close(data.images().image(i), [0, 180, 0], size * size);
        }
        let smiling = data.attributes().column("Smiling").unwrap();
        assert_eq!(smiling, [true, false, true, false, true]);
    }

    let wider = CelebaConfig {
        crop: 160,
        ..CelebaConfig::default()
    };
    let data = ImageFiles::celeba(tmp.path(), &wider)
        .unwrap()
        .load()
        .unwrap();
    let red_edge = data.images().image(0)[0];
    assert!(
        red_edge > 100,
        "a 160 crop reaches the red frame: {red_edge}"
    );
}

#[test]
fn celeba_partition_and_limit_pick_rows() {
    let tmp = TempDir::new("celeba-partition");
    celeba_folder(&tmp, 6);
    let config = CelebaConfig {
        partition: Some(CelebaPartition::Test),
        ..CelebaConfig::default()
    };
    let files = ImageFiles::celeba(tmp.path(), &config).unwrap();
    let names: Vec<_> = files
        .paths()
        .iter()
        .map(|p| p.file_name().unwrap())
        .collect();
    assert_eq!(names, ["000004.png", "000005.png", "000006.png"]);
    assert_eq!(
        files.attributes().column("Eyeglasses").unwrap(),
        [true, false, false]
    );

    let limited = ImageFiles::celeba(tmp.path(), &CelebaConfig::default().with_limit(2)).unwrap();
    assert_eq!(limited.len(), 2);
}

#[test]
fn celeba_errors_name_the_file_and_line() {
    let tmp = TempDir::new("celeba-errors");
    let err = ImageFiles::celeba(tmp.path(), &CelebaConfig::default()).unwrap_err();
    assert!(err.to_string().contains("list_attr_celeba.txt"), "{err}");

    celeba_folder(&tmp, 3);
    let list = tmp.join("list_attr_celeba.txt");
    std::fs::write(
        &list,
        "3\nSmiling Eyeglasses\n000001.png 1 -1\n000002.png 1 2\n",
    )
    .unwrap();
    let err = ImageFiles::celeba(tmp.path(), &CelebaConfig::default()).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 4, .. }), "{err}");
    assert!(err.to_string().contains("Eyeglasses = \"2\""), "{err}");

    std::fs::write(
        &list,
        "4\nSmiling\n000001.png 1\n000002.png 1\n000003.png 1\n",
    )
    .unwrap();
    let err = ImageFiles::celeba(tmp.path(), &CelebaConfig::default()).unwrap_err();
    assert!(
        err.to_string().contains("announces 4 images, found 3"),
        "{err}"
    );

    std::fs::write(
        &list,
        "3\nSmiling\n000001.png 1\n000002.png 1\n000009.png 1\n",
    )
    .unwrap();
    let files = ImageFiles::celeba(tmp.path(), &CelebaConfig::default()).unwrap();
    let err = files.load().unwrap_err();
    assert!(err.to_string().contains("000009.png"), "{err}");

    let small = framed(100, 100, 10, 10, [0; 3], [0; 3]);
    save(&small, &tmp.join("img_align_celeba/000001.png"));
    let err = files.image(0).unwrap_err();
    assert!(
        err.to_string()
            .contains("100x100, cannot crop a centred 148x148"),
        "{err}"
    );
}

#[test]
fn grid_file_decodes_to_the_laid_out_picture() {
    let tmp = TempDir::new("grid");
    let shape = ImageShape::new(3, 4, 4).unwrap();
    let pixels: Vec<u8> = (0..5 * 48).map(|v| (v * 7 % 256) as u8).collect();
    let images = ImageBatch::new(pixels, 5, shape).unwrap();
    let layout = GridLayout::new(2, 3).with_scale(2).with_gap(1);
    let path = tmp.join("grid.png");
    fisher_data::write_grid(&path, &images, &layout).unwrap();

    let decoded = image::open(&path).unwrap().to_rgb8();
    let picture = fisher_data::grid_picture(&images, &layout).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (3 * 8 + 4, 2 * 8 + 3));
    assert_eq!(decoded.as_raw(), &picture.pixels);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}
