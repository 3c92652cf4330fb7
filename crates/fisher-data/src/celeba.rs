//! CelebA: the aligned-and-cropped face images and their 40 binary attributes.
//!
//! Liu, Luo, Wang and Tang, *Deep learning face attributes in the wild* (ICCV 2015). The
//! folder holds `img_align_celeba/` (178×218 JPEGs, eyes aligned) and
//! `list_attr_celeba.txt`: a line with the number of images, a line with the 40 attribute
//! names, then one line per image, `000001.jpg` followed by 40 values `1` or `-1`. The
//! official layout (`Img/img_align_celeba/`, `Anno/list_attr_celeba.txt`,
//! `Eval/list_eval_partition.txt`) is found as well.
//!
//! Each image is cut to the centred 148×148 square (rows 35–182, columns 15–162 of a
//! 178×218 image: the face from eyebrows to chin, little background) and resized to 64×64
//! or 32×32 with a triangle filter; both the crop and the size are settings.

use std::path::{Path, PathBuf};

use fisher_core::ImageShape;

use crate::files::{Crop, ImageFiles};
use crate::{Attributes, Error, Result};

/// The three parts of CelebA's official split (`list_eval_partition.txt`: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CelebaPartition {
    /// Images 1–162,770.
    Train,
    /// Images 162,771–182,637.
    Valid,
    /// Images 182,638–202,599.
    Test,
}

impl CelebaPartition {
    fn code(self) -> u8 {
        match self {
            Self::Train => 0,
            Self::Valid => 1,
            Self::Test => 2,
        }
    }
}

/// Settings of [`ImageFiles::celeba`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CelebaConfig {
    /// Side of the centred square cut from each image, in source pixels (default 148).
    pub crop: usize,
    /// Side of the output images in pixels, usually 32 or 64 (default 64).
    pub size: usize,
    /// Keep only the first images (after partition filtering), `None` for all (default).
    pub limit: Option<usize>,
    /// Keep only one part of the official split, `None` for all (default). Needs
    /// `list_eval_partition.txt`.
    pub partition: Option<CelebaPartition>,
}

impl Default for CelebaConfig {
    fn default() -> Self {
        Self {
            crop: 148,
            size: 64,
            limit: None,
            partition: None,
        }
    }
}

impl CelebaConfig {
    /// The same settings with output images of `size × size` pixels.
    pub fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The same settings keeping the first `limit` images only.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The first existing path among `candidates`, or an [`Error::EmptyFolder`] naming them.
fn first_existing(dir: &Path, candidates: &[&str], what: &str) -> Result<PathBuf> {
    let found = candidates.iter().map(|c| dir.join(c)).find(|p| p.exists());
    found.ok_or_else(|| Error::EmptyFolder {
        path: dir.to_path_buf(),
        what: format!("{what} (looked for {})", candidates.join(", ")),
    })
}

impl ImageFiles {
    /// CelebA from folder `dir`; see the [module docs](crate::celeba).
    pub fn celeba(dir: impl AsRef<Path>, config: &CelebaConfig) -> Result<Self> {
        let dir = dir.as_ref();
        let shape = ImageShape::new(3, config.size, config.size)?;
        let list = ["list_attr_celeba.txt", "Anno/list_attr_celeba.txt"];
        let attr_path = first_existing(dir, &list, "attribute list")?;
        let images = ["img_align_celeba", "Img/img_align_celeba"];
        let image_dir = first_existing(dir, &images, "image folder")?;

        let text = std::fs::read_to_string(&attr_path).map_err(|e| Error::io(&attr_path, e))?;
        let (files, table) = parse_celeba_attributes(&text, &attr_path)?;
        let mut keep: Vec<usize> = (0..files.len()).collect();
        if let Some(part) = config.partition {
            keep = partition_rows(dir, &files, part)?;
        }
        if let Some(limit) = config.limit {
            keep.truncate(limit);
        }

        let paths = keep.iter().map(|&i| image_dir.join(&files[i])).collect();
        let attributes = crate::Examples::select(&table, &keep);
        let crop = Crop::Centre {
            width: config.crop,
            height: config.crop,
        };
        ImageFiles::new(paths, attributes, shape, crop)
    }
}

/// Rows of the attribute list that belong to `part`.
fn partition_rows(dir: &Path, files: &[String], part: CelebaPartition) -> Result<Vec<usize>> {
    let list = ["list_eval_partition.txt", "Eval/list_eval_partition.txt"];
    let path = first_existing(dir, &list, "partition list")?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let parts = parse_celeba_partition(&text, &path)?;
    if parts.len() != files.len() {
        return Err(Error::CountMismatch {
            images: dir.to_path_buf(),
            image_count: files.len(),
            labels: path,
            label_count: parts.len(),
        });
    }

    let mut rows = Vec::new();
    for (i, (file, code)) in parts.iter().enumerate() {
        if *file != files[i] {
            let reason = format!("{file:?} where the attribute list has {:?}", files[i]);
            return Err(Error::parse(&path, i + 1, reason));
        }
        if *code == part.code() {
            rows.push(i);
        }
    }
    Ok(rows)
}

/// Parses `list_attr_celeba.txt` (see the [module docs](self)): file names in row order and
/// the attribute table. `path` names the file in errors.
///
/// ```
/// use std::path::Path;
/// let text = "2\nSmiling Eyeglasses\n000001.jpg  1 -1\n000002.jpg -1  1\n";
/// let (files, table) =
///     fisher_data::celeba::parse_celeba_attributes(text, Path::new("list")).unwrap();
/// assert_eq!(files, ["000001.jpg", "000002.jpg"]);
/// assert_eq!(table.column("Eyeglasses").unwrap(), [false, true]);
/// ```
pub fn parse_celeba_attributes(text: &str, path: &Path) -> Result<(Vec<String>, Attributes)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let count_line = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
    let count: usize = count_line.parse().map_err(|_| {
        Error::parse(
            path,
            1,
            format!("expected the number of images, found {count_line:?}"),
        )
    })?;
    let Some((_, header)) = lines.next() else {
        return Err(Error::parse(path, 2, "missing the line of attribute names"));
    };
    let names: Vec<String> = header.split_whitespace().map(str::to_string).collect();

    let mut files = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count * names.len());
    for (i, line) in lines {
        let mut fields = line.split_whitespace();
        let file = fields.next().unwrap_or("");
        let row: Vec<&str> = fields.collect();
        if row.len() != names.len() {
            let reason = format!("{file}: {} values, expected {}", row.len(), names.len());
            return Err(Error::parse(path, i + 1, reason));
        }
        for (name, v) in names.iter().zip(row) {
            values.push(match v {
                "1" => true,
                "-1" => false,
                _ => {
                    let reason = format!("{file}: {name} = {v:?}, expected 1 or -1");
                    return Err(Error::parse(path, i + 1, reason));
                }
            });
        }
        files.push(file.to_string());
    }

    if files.len() != count {
        let reason = format!(
            "the first line announces {count} images, found {}",
            files.len()
        );
        return Err(Error::parse(path, 1, reason));
    }
    let len = files.len();
    Ok((files, Attributes::new(names, values, len)?))
}

/// Parses `list_eval_partition.txt`: `(file, part)` per line, part 0, 1 or 2.
pub fn parse_celeba_partition(text: &str, path: &Path) -> Result<Vec<(String, u8)>> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let part = match fields[..] {
            [_, "0"] => 0,
            [_, "1"] => 1,
            [_, "2"] => 2,
            _ => {
                let reason = format!("expected `FILE 0|1|2`, found {line:?}");
                return Err(Error::parse(path, i + 1, reason));
            }
        };
        out.push((fields[0].to_string(), part));
    }
    Ok(out)
}
