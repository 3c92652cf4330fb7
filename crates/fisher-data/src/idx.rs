//! IDX files: MNIST and Fashion-MNIST images and labels, raw or gzip-compressed.
//!
//! LeCun, Cortes and Burges, *The MNIST database of handwritten digits* (1998). An IDX file
//! is a 4-byte magic number `00 00 08 N` (unsigned bytes, `N` dimensions), `N` big-endian
//! `u32` sizes `d₁ … d_N`, then `d₁·…·d_N` bytes in row-major order. Images are
//! `[n, height, width]` (3 dimensions), labels `[n]` (1 dimension). A file that starts with
//! the gzip magic `1f 8b` is decompressed on the fly, whatever its name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use fisher_core::{ImageBatch, ImageShape};
use flate2::read::GzDecoder;

use crate::atomic::{write_atomic, write_bytes};
use crate::{Error, Labeled, Result, Split};

/// The classes of Fashion-MNIST, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UNSIGNED_BYTE: u8 = 0x08;
const MAX_DIMS: u8 = 4;
const EXPECTED_MAGIC: &str = "00 00 08 0N (unsigned bytes, N = 1 to 4 dimensions)";

/// An array of unsigned bytes read from or written to an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl IdxArray {
    /// An array of size `dims` (1 to 4 dimensions) holding `data` in row-major order.
    pub fn new(dims: Vec<usize>, data: Vec<u8>) -> Result<Self> {
        if dims.is_empty() || dims.len() > usize::from(MAX_DIMS) {
            return Err(Error::config(
                "IDX dimensions",
                dims.len(),
                "must be 1 to 4",
            ));
        }
        let len: usize = dims.iter().product();
        if len != data.len() || dims.iter().any(|&d| u32::try_from(d).is_err()) {
            return Err(fisher_core::Error::shape("IDX data", &dims, &[data.len()]).into());
        }
        Ok(Self { dims, data })
    }

    /// The size of each dimension.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The bytes, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The array as grayscale images; it must have 3 dimensions `[n, height, width]`.
    pub fn into_images(self, path: &Path) -> Result<ImageBatch> {
        let [n, h, w] = self.dims[..] else {
            let reason = format!("expected 3 dimensions [n, h, w], found {:?}", self.dims);
            return Err(Error::format(path, reason));
        };
        if h == 0 || w == 0 {
            let reason = format!("images of size {h}x{w}");
            return Err(Error::format(path, reason));
        }
        let shape = ImageShape::new(1, h, w)?;
        Ok(ImageBatch::new(self.data, n, shape)?)
    }

    /// The array as labels; it must have 1 dimension `[n]`.
    pub fn into_labels(self, path: &Path) -> Result<Vec<u8>> {
        if self.dims.len() != 1 {
            let reason = format!("expected 1 dimension [n], found {:?}", self.dims);
            return Err(Error::format(path, reason));
        }
        Ok(self.data)
    }

    /// The same bytes in IDX layout, header first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0, 0, UNSIGNED_BYTE, self.dims.len() as u8];
        for &d in &self.dims {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// Reads up to `buf.len()` bytes, stopping early only at the end of the stream; returns the
/// count read.
fn read_full(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(path, e)),
        }
    }
    Ok(filled)
}

/// A read failure: a corrupt compressed stream is a format error, anything else I/O.
fn stream_error(path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    match e.kind() {
        InvalidData | InvalidInput | UnexpectedEof => {
            Error::format(path, format!("corrupt gzip stream: {e}"))
        }
        _ => Error::io(path, e),
    }
}

/// The dimensions from an IDX header, after checking its magic number.
fn read_header(reader: &mut impl Read, path: &Path) -> Result<Vec<usize>> {
    let mut magic = [0u8; 4];
    let found = read_full(reader, &mut magic, path)?;
    if found < 4 {
        return Err(Error::truncated(path, "IDX magic number", 4, found as u64));
    }
    let ndims = magic[3];
    if magic[..2] != [0, 0] || ndims == 0 || ndims > MAX_DIMS {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            expected: EXPECTED_MAGIC.to_string(),
            found: u32::from_be_bytes(magic),
        });
    }
    if magic[2] != UNSIGNED_BYTE {
        let reason = format!(
            "element type {:#04x} is not supported (only 0x08)",
            magic[2]
        );
        return Err(Error::format(path, reason));
    }

    let mut sizes = vec![0u8; 4 * usize::from(ndims)];
    let found = read_full(reader, &mut sizes, path)?;
    if found < sizes.len() {
        let expected = 4 + sizes.len() as u64;
        return Err(Error::truncated(
            path,
            "IDX header",
            expected,
            4 + found as u64,
        ));
    }
    let dims = sizes
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    Ok(dims)
}

/// Bytes of data an IDX header announces, or an error if the product overflows.
fn payload_len(dims: &[usize], path: &Path) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("dimensions {dims:?} overflow the address space"),
            )
        })
}

fn header_len(dims: &[usize]) -> u64 {
    4 + 4 * dims.len() as u64
}

/// A reader of `reader`'s bytes, decompressed if they start with the gzip magic.
fn maybe_gzip<'a, R>(mut reader: R, path: &Path) -> Result<Box<dyn Read + Send + 'a>>
where
    R: BufRead + Send + 'a,
{
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads one IDX array from `reader`; `path` names the source in errors.
fn read_array(reader: &mut impl Read, path: &Path) -> Result<IdxArray> {
    let dims = read_header(reader, path)?;
    let len = payload_len(&dims, path)?;

    let mut data = Vec::with_capacity(len.min(1 << 26));
    let limit = len as u64 + 1;
    let mut limited = reader.take(limit);
    limited
        .read_to_end(&mut data)
        .map_err(|e| stream_error(path, e))?;
    let head = header_len(&dims);
    if data.len() < len {
        let (expected, found) = (head + len as u64, head + data.len() as u64);
        return Err(Error::truncated(path, "IDX data", expected, found));
    }
    if data.len() > len {
        let reason = format!("bytes follow the {len} data bytes that {dims:?} announce");
        return Err(Error::format(path, reason));
    }
    Ok(IdxArray { dims, data })
}

/// Parses an IDX file held in memory, raw or gzip-compressed; `path` names it in errors.
///
/// ```
/// use fisher_data::idx::{parse_idx, IdxArray};
/// use std::path::Path;
///
/// let array = IdxArray::new(vec![2, 2], vec![1, 2, 3, 4]).unwrap();
/// let parsed = parse_idx(&array.to_bytes(), Path::new("mem")).unwrap();
/// assert_eq!(parsed, array);
/// assert!(parse_idx(&[0, 0, 8, 2, 0], Path::new("mem")).is_err());
/// ```
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let mut reader = maybe_gzip(bytes, path)?;
    read_array(&mut reader, path)
}

fn open_buffered(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

/// Reads an IDX file, raw or gzip-compressed.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let _span = tracing::info_span!("read_idx", path = %path.display()).entered();
    let mut reader = maybe_gzip(open_buffered(path)?, path)?;
    read_array(&mut reader, path)
}

/// Writes `array` as an IDX file, gzip-compressed when `gzip` is set, atomically
/// (temporary file, then rename).
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray, gzip: bool) -> Result<()> {
    let path = path.as_ref();
    let bytes = array.to_bytes();
    write_atomic(path, |writer| {
        if !gzip {
            return write_bytes(writer, &bytes, path);
        }
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::best());
        write_bytes(&mut encoder, &bytes, path)?;
        encoder
            .finish()
            .and_then(|w| w.flush())
            .map_err(|e| Error::io(path, e))
    })
}

/// Loads an image file `[n, h, w]` and a label file `[n]` whose counts must agree.
pub fn load_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Labeled> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let batch = read_idx(images)?.into_images(images)?;
    let label_values = read_idx(labels)?.into_labels(labels)?;
    if batch.len() != label_values.len() {
        return Err(Error::CountMismatch {
            images: images.to_path_buf(),
            image_count: batch.len(),
            labels: labels.to_path_buf(),
            label_count: label_values.len(),
        });
    }
    Labeled::new(batch, label_values)
}

/// One IDX file read item by item.
struct ItemReader {
    path: PathBuf,
    reader: Box<dyn Read + Send>,
    dims: Vec<usize>,
    item_len: usize,
    items_read: usize,
}

impl ItemReader {
    fn open(path: &Path) -> Result<Self> {
        let mut reader = maybe_gzip(open_buffered(path)?, path)?;
        let dims = read_header(&mut reader, path)?;
        let item_len = payload_len(&dims[1..], path)?;
        payload_len(&dims, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            dims,
            item_len,
            items_read: 0,
        })
    }

    fn count(&self) -> usize {
        self.dims[0]
    }

    /// The next `k` items, or a truncation error naming the bytes expected and found. The
    /// buffer grows with the bytes that arrive, not with what the header announces.
    fn read_items(&mut self, k: usize) -> Result<Vec<u8>> {
        let want = k * self.item_len;
        let mut buf = Vec::with_capacity(want.min(1 << 24));
        let mut limited = (&mut self.reader).take(want as u64);
        limited
            .read_to_end(&mut buf)
            .map_err(|e| stream_error(&self.path, e))?;

        let done = header_len(&self.dims) + (self.items_read * self.item_len) as u64;
        if buf.len() < want {
            let left = (self.count() - self.items_read) as u64 * self.item_len as u64;
            let found = done + buf.len() as u64;
            return Err(Error::truncated(&self.path, "IDX data", done + left, found));
        }
        self.items_read += k;
        if self.items_read == self.count() {
            self.check_end()?;
        }
        Ok(buf)
    }

    fn check_end(&mut self) -> Result<()> {
        let mut extra = [0u8; 1];
        if read_full(&mut self.reader, &mut extra, &self.path)? > 0 {
            let reason = format!("bytes follow the data that {:?} announce", self.dims);
            return Err(Error::format(&self.path, reason));
        }
        Ok(())
    }
}

/// Batches of an IDX image file and its label file, read as they are consumed; from
/// [`stream_idx`].
pub struct IdxStream {
    images: ItemReader,
    labels: ItemReader,
    shape: ImageShape,
    batch_size: usize,
    failed: bool,
}

impl std::fmt::Debug for IdxStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdxStream")
            .field("images", &self.images.path)
            .field("labels", &self.labels.path)
            .field("read", &self.images.items_read)
            .field("count", &self.images.count())
            .finish()
    }
}

/// Opens an image file `[n, h, w]` and a label file `[n]` for reading in batches of
/// `batch_size`. Headers and counts are checked here; a truncation shows up as an error item
/// when the stream reaches it, after which the stream ends.
pub fn stream_idx(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    batch_size: usize,
) -> Result<IdxStream> {
    if batch_size == 0 {
        return Err(Error::config("batch_size", 0, "must be at least 1"));
    }
    let images = ItemReader::open(images.as_ref())?;
    let labels = ItemReader::open(labels.as_ref())?;
    let shape = match images.dims[..] {
        [_, h, w] if h > 0 && w > 0 => ImageShape::new(1, h, w)?,
        _ => {
            let reason = format!("expected 3 dimensions [n, h, w], found {:?}", images.dims);
            return Err(Error::format(&images.path, reason));
        }
    };
    if labels.dims.len() != 1 {
        let reason = format!("expected 1 dimension [n], found {:?}", labels.dims);
        return Err(Error::format(&labels.path, reason));
    }
    if images.count() != labels.count() {
        return Err(Error::CountMismatch {
            images: images.path.clone(),
            image_count: images.count(),
            labels: labels.path.clone(),
            label_count: labels.count(),
        });
    }
    Ok(IdxStream {
        images,
        labels,
        shape,
        batch_size,
        failed: false,
    })
}

impl IdxStream {
    /// Number of images in the file.
    pub fn image_count(&self) -> usize {
        self.images.count()
    }

    /// The shape of each image.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    fn next_batch(&mut self, k: usize) -> Result<Labeled> {
        let pixels = self.images.read_items(k)?;
        let labels = self.labels.read_items(k)?;
        Labeled::new(ImageBatch::new(pixels, k, self.shape)?, labels)
    }
}

impl Iterator for IdxStream {
    type Item = Result<Labeled>;

    fn next(&mut self) -> Option<Self::Item> {
        let left = self.images.count() - self.images.items_read;
        if left == 0 || self.failed {
            return None;
        }
        let batch = self.next_batch(left.min(self.batch_size));
        self.failed = batch.is_err();
        Some(batch)
    }
}

/// An MNIST-layout folder: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each possibly with a `.gz` suffix
/// (`train-images.idx3-ubyte` spellings are accepted too). Labels must lie in `0..10`.
///
/// Works for MNIST and Fashion-MNIST; [`Mnist::fashion`] points at the Debian location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    dir: PathBuf,
}

impl Mnist {
    /// The data set in folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Fashion-MNIST where the Debian package installs it, [`FASHION_MNIST_DIR`].
    pub fn fashion() -> Self {
        Self::new(FASHION_MNIST_DIR)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The image file and the label file of `split`.
    pub fn files(&self, split: Split) -> Result<(PathBuf, PathBuf)> {
        let prefix = match split {
            Split::Train => "train",
            Split::Test => "t10k",
        };
        let images = self.find(prefix, "images", 3)?;
        let labels = self.find(prefix, "labels", 1)?;
        Ok((images, labels))
    }

    fn find(&self, prefix: &str, kind: &str, dims: usize) -> Result<PathBuf> {
        let names = [
            format!("{prefix}-{kind}-idx{dims}-ubyte"),
            format!("{prefix}-{kind}.idx{dims}-ubyte"),
        ];
        let candidates = names
            .iter()
            .flat_map(|n| [n.clone(), format!("{n}.gz")])
            .map(|n| self.dir.join(n));
        let tried: Vec<PathBuf> = candidates.collect();
        if let Some(found) = tried.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }

        let listed: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        let what = format!("IDX {kind} file (tried {})", listed.join(", "));
        Err(Error::EmptyFolder {
            path: self.dir.clone(),
            what,
        })
    }

    /// Loads `split` whole.
    pub fn load(&self, split: Split) -> Result<Labeled> {
        let (images, labels) = self.files(split)?;
        let data = load_idx(&images, &labels)?;
        check_labels(&labels, data.labels(), 0, 10)?;
        Ok(data)
    }

    /// Reads `split` in batches of `batch_size`; labels are checked batch by batch, and the
    /// stream ends after the first error.
    pub fn stream(
        &self,
        split: Split,
        batch_size: usize,
    ) -> Result<impl Iterator<Item = Result<Labeled>> + use<>> {
        let (images, labels) = self.files(split)?;
        let mut offset = 0;
        let stream = stream_idx(&images, &labels, batch_size)?;
        let checked = stream.scan(false, move |failed, batch| {
            if *failed {
                return None;
            }
            let checked = batch.and_then(|b| {
                check_labels(&labels, b.labels(), offset, 10)?;
                offset += b.labels().len();
                Ok(b)
            });
            *failed = checked.is_err();
            Some(checked)
        });
        Ok(checked)
    }
}

/// Fails with [`Error::LabelRange`] for the first label outside `0..classes`; `offset` is the
/// index of `labels[0]` in its file.
pub(crate) fn check_labels(
    path: &Path,
    labels: &[u8],
    offset: usize,
    classes: usize,
) -> Result<()> {
    match labels.iter().position(|&l| usize::from(l) >= classes) {
        None => Ok(()),
        Some(i) => Err(Error::LabelRange {
            path: path.to_path_buf(),
            index: offset + i,
            label: labels[i],
            classes,
        }),
    }
}
