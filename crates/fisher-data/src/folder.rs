//! A folder of PNG or JPEG images, resized to one size, with an optional CSV of attributes.
//!
//! The CSV's first line names the columns: the first column holds file names relative to
//! the folder, the others are attributes. Each later line gives a file and its values:
//! `1`, `true`, `yes` for present; `0`, `-1`, `false`, `no` for absent. Every image of the
//! folder needs a row, and every row an image. Fields are split at commas with no quoting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fisher_core::ImageShape;

use crate::files::{Crop, ImageFiles};
use crate::{Attributes, Error, Result};

/// Settings of [`ImageFiles::folder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderConfig {
    /// Channels of the output: 1 (grayscale) or 3 (RGB, default).
    pub channels: usize,
    /// Output height in pixels (default 32).
    pub height: usize,
    /// Output width in pixels (default 32).
    pub width: usize,
    /// Part of each image kept before resizing (default the largest centred square).
    pub crop: Crop,
    /// A CSV file of attributes (default none).
    pub attributes: Option<PathBuf>,
}

impl Default for FolderConfig {
    fn default() -> Self {
        Self {
            channels: 3,
            height: 32,
            width: 32,
            crop: Crop::CentreSquare,
            attributes: None,
        }
    }
}

impl FolderConfig {
    /// The same settings with square output images of `size` pixels.
    pub fn with_size(mut self, size: usize) -> Self {
        self.height = size;
        self.width = size;
        self
    }

    /// The same settings with attributes read from the CSV file `path`.
    pub fn with_attributes(mut self, path: impl Into<PathBuf>) -> Self {
        self.attributes = Some(path.into());
        self
    }
}

fn is_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let ext = ext.to_ascii_lowercase();
    path.is_file() && matches!(ext.as_str(), "png" | "jpg" | "jpeg")
}

/// The PNG and JPEG files directly inside `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if is_image(&path) {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        let what = "PNG or JPEG images (*.png, *.jpg, *.jpeg)".to_string();
        return Err(Error::EmptyFolder {
            path: dir.to_path_buf(),
            what,
        });
    }
    paths.sort();
    Ok(paths)
}

impl ImageFiles {
    /// The images of folder `dir` (not its subfolders), sorted by file name, with the
    /// attributes of `config.attributes` if given.
    pub fn folder(dir: impl AsRef<Path>, config: &FolderConfig) -> Result<Self> {
        let dir = dir.as_ref();
        let shape = ImageShape::new(config.channels, config.height, config.width)?;
        let paths = list_images(dir)?;
        let attributes = match &config.attributes {
            None => Attributes::none(paths.len()),
            Some(csv) => attributes_for(&paths, csv)?,
        };
        ImageFiles::new(paths, attributes, shape, config.crop)
    }
}

/// The rows of the CSV file `csv` in the order of `paths`.
fn attributes_for(paths: &[PathBuf], csv: &Path) -> Result<Attributes> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let (files, table) = parse_attribute_csv(&text, csv)?;
    let row_of: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();

    let mut order = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(&row) = row_of.get(name) else {
            let reason = format!("no row for image {name:?} of the folder");
            return Err(Error::format(csv, reason));
        };
        order.push(row);
    }
    if files.len() != paths.len() {
        let listed: std::collections::HashSet<usize> = order.iter().copied().collect();
        let extra = (0..files.len()).find(|i| !listed.contains(i)).unwrap_or(0);
        let reason = format!(
            "row for {:?}, which is not an image of the folder",
            files[extra]
        );
        return Err(Error::parse(csv, extra + 2, reason));
    }
    Ok(crate::Examples::select(&table, &order))
}

fn parse_flag(field: &str) -> Option<bool> {
    match field.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "-1" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Parses an attribute CSV (see the [module docs](self)): the file names, in row order, and
/// the attribute table. `path` names the file in errors.
///
/// ```
/// use std::path::Path;
/// let text = "file,smiling,hat\na.png,1,0\nb.png,false,yes\n";
/// let (files, table) = fisher_data::folder::parse_attribute_csv(text, Path::new("a.csv"))
///     .unwrap();
/// assert_eq!(files, ["a.png", "b.png"]);
/// assert_eq!(table.column("hat").unwrap(), [false, true]);
/// ```
pub fn parse_attribute_csv(text: &str, path: &Path) -> Result<(Vec<String>, Attributes)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(Error::parse(path, 1, "empty file: expected a header line"));
    };
    let names: Vec<String> = header
        .split(',')
        .skip(1)
        .map(|s| s.trim().to_string())
        .collect();

    let mut files = Vec::new();
    let mut values = Vec::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() + 1 {
            let reason = format!(
                "{} fields, the header has {}",
                fields.len(),
                names.len() + 1
            );
            return Err(Error::parse(path, i + 1, reason));
        }
        for (name, field) in names.iter().zip(&fields[1..]) {
            let flag = parse_flag(field).ok_or_else(|| {
                let reason = format!("{name} = {field:?} is not one of 1, 0, -1, true, false");
                Error::parse(path, i + 1, reason)
            })?;
            values.push(flag);
        }
        files.push(fields[0].to_string());
    }
    let len = files.len();
    Ok((files, Attributes::new(names, values, len)?))
}
