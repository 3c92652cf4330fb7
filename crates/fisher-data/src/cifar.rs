//! CIFAR-10 binary batches.
//!
//! Krizhevsky, *Learning multiple layers of features from tiny images* (2009). Each file of
//! the binary version (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) is a
//! sequence of 3,073-byte records: one label byte in `0..10`, then a 32×32 RGB image as
//! 1,024 red, 1,024 green and 1,024 blue bytes, rows top to bottom — already the
//! channel-first layout of [`ImageBatch`]. The format has no header, so a file is valid when
//! its length is a positive multiple of 3,073 and every label is below 10.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use fisher_core::{ImageBatch, ImageShape};

use crate::atomic::{write_atomic, write_bytes};
use crate::idx::check_labels;
use crate::{Error, Labeled, Result, Split};

/// The classes of CIFAR-10, by label.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const IMAGE_BYTES: usize = 3 * 32 * 32;
const RECORD_BYTES: usize = 1 + IMAGE_BYTES;

fn cifar_shape() -> ImageShape {
    ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    }
}

/// Parses a CIFAR-10 batch held in memory; `path` names it in errors.
///
/// ```
/// use std::path::Path;
/// let mut record = vec![7u8];
/// record.extend(std::iter::repeat(128).take(3072));
/// let data = fisher_data::cifar::parse_cifar10(&record, Path::new("mem")).unwrap();
/// assert_eq!(data.labels(), &[7]);
/// assert!(fisher_data::cifar::parse_cifar10(&record[..100], Path::new("mem")).is_err());
/// ```
pub fn parse_cifar10(bytes: &[u8], path: &Path) -> Result<Labeled> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    append_records(bytes, path, &mut pixels, &mut labels)?;
    Labeled::new(
        ImageBatch::new(pixels, labels.len(), cifar_shape())?,
        labels,
    )
}

/// Checks that `bytes` are whole records with valid labels and appends them.
fn append_records(
    bytes: &[u8],
    path: &Path,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<()> {
    let n = bytes.len() / RECORD_BYTES;
    if bytes.is_empty() {
        return Err(Error::truncated(
            path,
            "CIFAR-10 batch",
            RECORD_BYTES as u64,
            0,
        ));
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        let expected = ((n + 1) * RECORD_BYTES) as u64;
        return Err(Error::truncated(
            path,
            "CIFAR-10 record",
            expected,
            bytes.len() as u64,
        ));
    }

    let file_labels: Vec<u8> = bytes.chunks_exact(RECORD_BYTES).map(|r| r[0]).collect();
    check_labels(path, &file_labels, 0, 10)?;
    pixels.reserve(n * IMAGE_BYTES);
    for record in bytes.chunks_exact(RECORD_BYTES) {
        pixels.extend_from_slice(&record[1..]);
    }
    labels.extend(file_labels);
    Ok(())
}

/// Reads a CIFAR-10 batch file.
pub fn read_cifar10(path: impl AsRef<Path>) -> Result<Labeled> {
    let path = path.as_ref();
    let _span = tracing::info_span!("read_cifar10", path = %path.display()).entered();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_cifar10(&bytes, path)
}

/// Writes `data` (3×32×32 images, labels below 10) as a CIFAR-10 batch file, atomically.
pub fn write_cifar10(path: impl AsRef<Path>, data: &Labeled) -> Result<()> {
    let path = path.as_ref();
    cifar_shape().check_batch("CIFAR-10 images", batch_dims(data.images()))?;
    check_labels(path, data.labels(), 0, 10)?;

    let mut bytes = Vec::with_capacity(data.labels().len() * RECORD_BYTES);
    for (i, &label) in data.labels().iter().enumerate() {
        bytes.push(label);
        bytes.extend_from_slice(data.images().image(i));
    }
    write_atomic(path, |w| write_bytes(w, &bytes, path))
}

fn batch_dims(images: &ImageBatch) -> [usize; 4] {
    let [c, h, w] = images.shape().to_array();
    [images.len(), c, h, w]
}

/// A CIFAR-10 folder: the `cifar-10-batches-bin` folder of the binary release, or a folder
/// that contains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cifar10 {
    dir: PathBuf,
}

impl Cifar10 {
    /// The data set in folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The batch files of `split`, in order.
    pub fn files(&self, split: Split) -> Result<Vec<PathBuf>> {
        let names: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".to_string()],
        };
        let nested = self.dir.join("cifar-10-batches-bin");
        let base = if nested.is_dir() {
            nested
        } else {
            self.dir.clone()
        };

        let files: Vec<PathBuf> = names.iter().map(|n| base.join(n)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            let what = format!("CIFAR-10 batch {}", missing.display());
            return Err(Error::EmptyFolder { path: base, what });
        }
        Ok(files)
    }

    /// Loads `split` whole.
    pub fn load(&self, split: Split) -> Result<Labeled> {
        let _span = tracing::info_span!("load_cifar10", dir = %self.dir.display()).entered();
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for path in self.files(split)? {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            append_records(&bytes, &path, &mut pixels, &mut labels)?;
        }
        Labeled::new(
            ImageBatch::new(pixels, labels.len(), cifar_shape())?,
            labels,
        )
    }

    /// Reads `split` in batches of `batch_size`, record by record across its files.
    pub fn stream(&self, split: Split, batch_size: usize) -> Result<CifarStream> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        let mut files = self.files(split)?;
        files.reverse();
        Ok(CifarStream {
            pending: files,
            current: None,
            batch_size,
            failed: false,
        })
    }
}

/// One open batch file and the number of records read from it.
struct OpenBatch {
    path: PathBuf,
    reader: BufReader<File>,
    records_read: usize,
}

/// Batches of CIFAR-10 records read as they are consumed; from [`Cifar10::stream`]. A batch
/// may span two files. A partial record is an error item, after which the stream ends.
pub struct CifarStream {
    pending: Vec<PathBuf>,
    current: Option<OpenBatch>,
    batch_size: usize,
    failed: bool,
}

impl std::fmt::Debug for CifarStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current.as_ref().map(|c| &c.path);
        f.debug_struct("CifarStream")
            .field("current", &current)
            .field("pending", &self.pending)
            .finish()
    }
}

impl CifarStream {
    /// The next record as `(label, image)`, or `None` after the last file.
    fn next_record(&mut self) -> Result<Option<(u8, Vec<u8>)>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.pending.pop() else {
                    return Ok(None);
                };
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                let reader = BufReader::with_capacity(1 << 16, file);
                self.current = Some(OpenBatch {
                    path,
                    reader,
                    records_read: 0,
                });
            }
            let open = self.current.as_mut().expect("opened above");
            match read_record(open)? {
                Some(record) => return Ok(Some(record)),
                None => self.current = None,
            }
        }
    }

    fn next_batch(&mut self) -> Result<Option<Labeled>> {
        let mut images = ImageBatch::empty(cifar_shape());
        let mut labels = Vec::new();
        while labels.len() < self.batch_size {
            let Some((label, image)) = self.next_record()? else {
                break;
            };
            labels.push(label);
            images.push(&image)?;
        }
        if labels.is_empty() {
            return Ok(None);
        }
        Labeled::new(images, labels).map(Some)
    }
}

/// Reads one record, or `None` at a clean end of file.
fn read_record(open: &mut OpenBatch) -> Result<Option<(u8, Vec<u8>)>> {
    let mut record = vec![0u8; RECORD_BYTES];
    let mut filled = 0;
    while filled < RECORD_BYTES {
        match open.reader.read(&mut record[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(&open.path, e)),
        }
    }

    let done = (open.records_read * RECORD_BYTES) as u64;
    match filled {
        0 if open.records_read == 0 => {
            let what = "CIFAR-10 batch";
            Err(Error::truncated(&open.path, what, RECORD_BYTES as u64, 0))
        }
        0 => Ok(None),
        RECORD_BYTES => {
            check_labels(&open.path, &record[..1], open.records_read, 10)?;
            open.records_read += 1;
            let label = record[0];
            record.remove(0);
            Ok(Some((label, record)))
        }
        _ => {
            let expected = done + RECORD_BYTES as u64;
            let found = done + filled as u64;
            Err(Error::truncated(
                &open.path,
                "CIFAR-10 record",
                expected,
                found,
            ))
        }
    }
}

impl Iterator for CifarStream {
    type Item = Result<Labeled>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let batch = self.next_batch().transpose();
        self.failed = matches!(batch, Some(Err(_)));
        batch
    }
}
