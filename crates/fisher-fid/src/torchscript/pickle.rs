//! A minimal interpreter for the pickle streams inside PyTorch archives.
//!
//! It runs the opcodes that `torch.jit.save` and `torch.save` emit (protocols 2 to 4) and
//! builds a [`Value`] tree instead of Python objects: classes stay names, tensors become
//! [`TensorRef`]s pointing into the archive's storages. Nothing in the stream is executed;
//! a callable the interpreter does not know becomes an inert [`Value::Object`].

use std::collections::HashMap;

/// The element type of a tensor storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageType {
    /// `torch.FloatStorage`, little-endian f32.
    F32,
    /// `torch.DoubleStorage`, little-endian f64.
    F64,
    /// `torch.HalfStorage`, little-endian IEEE binary16.
    F16,
    /// `torch.LongStorage`, little-endian i64.
    I64,
    /// `torch.IntStorage`, little-endian i32.
    I32,
}

impl StorageType {
    /// The storage class named `name` (e.g. `FloatStorage`), if supported.
    pub fn from_class_name(name: &str) -> Option<Self> {
        match name {
            "FloatStorage" => Some(Self::F32),
            "DoubleStorage" => Some(Self::F64),
            "HalfStorage" => Some(Self::F16),
            "LongStorage" => Some(Self::I64),
            "IntStorage" => Some(Self::I32),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }
}

/// A tensor as the pickle describes it: a view into a storage of the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// The storage's key: its file is `data/KEY` in the archive.
    pub storage: String,
    /// Element type of the storage.
    pub dtype: StorageType,
    /// Number of elements the storage holds.
    pub storage_len: usize,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub strides: Vec<usize>,
}

impl TensorRef {
    /// Number of elements, the product of the shape.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A value of the pickled object tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dictionary, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A class or function reference, `module.name`.
    Global {
        /// The module path.
        module: String,
        /// The attribute name.
        name: String,
    },
    /// An instance of a class the interpreter does not model: the class name, the
    /// constructor arguments and the state set by `BUILD` (a TorchScript module's
    /// attributes).
    Object {
        /// `module.name` of the class.
        class: String,
        /// Constructor arguments.
        args: Vec<Value>,
        /// State given to `__setstate__`, if any.
        state: Option<Box<Value>>,
    },
    /// A persistent id, as `BINPERSID` produces it.
    Persistent(Box<Value>),
    /// A tensor.
    Tensor(TensorRef),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Self::Tuple(v) | Self::List(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a pickle stream could not be interpreted: the byte offset of the opcode and what
/// went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset of the opcode in the stream.
    pub offset: usize,
    /// What went wrong.
    pub reason: String,
}

/// Interprets a pickle stream and returns the value it builds.
///
/// ```
/// use fisher_fid::torchscript::pickle::{Value, parse};
/// // protocol 2: EMPTY_DICT, BINUNICODE "a", BININT1 7, SETITEM, STOP
/// let bytes = b"\x80\x02}X\x01\x00\x00\x00aK\x07s.";
/// let v = parse(bytes).unwrap();
/// assert_eq!(v, Value::Dict(vec![(Value::Str("a".into()), Value::Int(7))]));
/// ```
///
/// # Errors
/// A [`PickleError`] for an unknown opcode, a truncated stream, or operands of the wrong kind.
pub fn parse(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut machine = Machine {
        bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    machine.run()
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            if op == b'.' {
                return self.pop(at);
            }
            self.step(op, at)?;
        }
    }

    fn step(&mut self, op: u8, at: usize) -> Result<(), PickleError> {
        let value = match op {
            0x80 => return self.take(1).map(drop),
            0x95 => return self.take(8).map(drop),
            b'(' => {
                self.marks.push(self.stack.len());
                return Ok(());
            }
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'K' => Value::Int(i64::from(self.byte()?)),
            b'M' => Value::Int(i64::from(u16::from_le_bytes(self.array()?))),
            b'J' => Value::Int(i64::from(i32::from_le_bytes(self.array()?))),
            0x8a => self.long1(at)?,
            b'G' => Value::Float(f64::from_be_bytes(self.array()?)),
            b'X' => {
                let len = u32::from_le_bytes(self.array()?) as usize;
                self.string(len, at)?
            }
            0x8c => {
                let len = usize::from(self.byte()?);
                self.string(len, at)?
            }
            0x8d => {
                let len = u64::from_le_bytes(self.array()?) as usize;
                self.string(len, at)?
            }
            b'B' => {
                let len = u32::from_le_bytes(self.array()?) as usize;
                Value::Bytes(self.take(len)?.to_vec())
            }
            b'C' => {
                let len = usize::from(self.byte()?);
                Value::Bytes(self.take(len)?.to_vec())
            }
            _ => return self.step_containers(op, at),
        };
        self.stack.push(value);
        Ok(())
    }

    fn step_containers(&mut self, op: u8, at: usize) -> Result<(), PickleError> {
        match op {
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b']' => self.stack.push(Value::List(Vec::new())),
            b'}' => self.stack.push(Value::Dict(Vec::new())),
            b't' => {
                let items = self.pop_mark(at)?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let items = self.pop_n(n, at)?;
                self.stack.push(Value::Tuple(items));
            }
            b'l' => {
                let items = self.pop_mark(at)?;
                self.stack.push(Value::List(items));
            }
            b'd' => {
                let items = self.pop_mark(at)?;
                let dict = pairs(items, at)?;
                self.stack.push(Value::Dict(dict));
            }
            b'a' => {
                let item = self.pop(at)?;
                self.extend_list(vec![item], at)?;
            }
            b'e' => {
                let items = self.pop_mark(at)?;
                self.extend_list(items, at)?;
            }
            b's' => {
                let items = self.pop_n(2, at)?;
                self.extend_dict(pairs(items, at)?, at)?;
            }
            b'u' => {
                let items = self.pop_mark(at)?;
                self.extend_dict(pairs(items, at)?, at)?;
            }
            _ => return self.step_objects(op, at),
        }
        Ok(())
    }

    fn step_objects(&mut self, op: u8, at: usize) -> Result<(), PickleError> {
        match op {
            b'c' => {
                let module = self.line(at)?;
                let name = self.line(at)?;
                self.stack.push(Value::Global { module, name });
            }
            0x93 => {
                let parts = self.pop_n(2, at)?;
                let text = |v: &Value| v.as_str().map(str::to_string);
                match (text(&parts[0]), text(&parts[1])) {
                    (Some(module), Some(name)) => self.stack.push(Value::Global { module, name }),
                    _ => return Err(fail(at, "STACK_GLOBAL needs two strings")),
                }
            }
            b'q' => {
                let key = u32::from(self.byte()?);
                self.memoize(key, at)?;
            }
            b'r' => {
                let key = u32::from_le_bytes(self.array()?);
                self.memoize(key, at)?;
            }
            0x94 => self.memoize(self.memo.len() as u32, at)?,
            b'h' => {
                let key = u32::from(self.byte()?);
                self.recall(key, at)?;
            }
            b'j' => {
                let key = u32::from_le_bytes(self.array()?);
                self.recall(key, at)?;
            }
            b'Q' => {
                let id = self.pop(at)?;
                self.stack.push(Value::Persistent(Box::new(id)));
            }
            b'R' | 0x81 => {
                let args = self.pop(at)?;
                let callable = self.pop(at)?;
                let value = call(callable, args, at)?;
                self.stack.push(value);
            }
            b'b' => self.build(at)?,
            other => return Err(fail(at, format!("unsupported opcode 0x{other:02x}"))),
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(fail(
                self.pos,
                format!("stream ends; {n} more bytes needed"),
            )),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn long1(&mut self, at: usize) -> Result<Value, PickleError> {
        let n = usize::from(self.byte()?);
        if n > 8 {
            return Err(fail(
                at,
                format!("LONG1 of {n} bytes does not fit in 64 bits"),
            ));
        }
        let raw = self.take(n)?;
        let mut buf = if raw.last().is_some_and(|b| b & 0x80 != 0) {
            [0xff; 8]
        } else {
            [0; 8]
        };
        buf[..n].copy_from_slice(raw);
        Ok(Value::Int(i64::from_le_bytes(buf)))
    }

    fn string(&mut self, len: usize, at: usize) -> Result<Value, PickleError> {
        let raw = self.take(len)?.to_vec();
        String::from_utf8(raw)
            .map(Value::Str)
            .map_err(|_| fail(at, "string is not UTF-8"))
    }

    fn line(&mut self, at: usize) -> Result<String, PickleError> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| fail(at, "GLOBAL without a newline"))?;
        let text = String::from_utf8(rest[..end].to_vec())
            .map_err(|_| fail(at, "GLOBAL name is not UTF-8"))?;
        self.pos += end + 1;
        Ok(text)
    }

    fn pop(&mut self, at: usize) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(fail(at, "stack is empty above the mark"));
        }
        self.stack.pop().ok_or_else(|| fail(at, "stack is empty"))
    }

    fn pop_n(&mut self, n: usize, at: usize) -> Result<Vec<Value>, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(fail(at, format!("{n} values needed on the stack")));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| fail(at, "no mark to pop to"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memoize(&mut self, key: u32, at: usize) -> Result<(), PickleError> {
        let top = self
            .stack
            .last()
            .ok_or_else(|| fail(at, "nothing to memoize"))?;
        self.memo.insert(key, top.clone());
        Ok(())
    }

    fn recall(&mut self, key: u32, at: usize) -> Result<(), PickleError> {
        let value = self
            .memo
            .get(&key)
            .ok_or_else(|| fail(at, format!("memo key {key} was never stored")))?;
        self.stack.push(value.clone());
        Ok(())
    }

    fn extend_list(&mut self, items: Vec<Value>, at: usize) -> Result<(), PickleError> {
        match self.stack.last_mut() {
            Some(Value::List(list)) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(fail(at, "APPEND onto something that is not a list")),
        }
    }

    fn extend_dict(&mut self, items: Vec<(Value, Value)>, at: usize) -> Result<(), PickleError> {
        match self.stack.last_mut() {
            Some(Value::Dict(dict)) => {
                dict.extend(items);
                Ok(())
            }
            _ => Err(fail(at, "SETITEM onto something that is not a dict")),
        }
    }

    fn build(&mut self, at: usize) -> Result<(), PickleError> {
        let state = self.pop(at)?;
        match self.stack.last_mut() {
            Some(Value::Object { state: slot, .. }) => {
                *slot = Some(Box::new(state));
                Ok(())
            }
            Some(Value::Dict(dict)) => match state {
                Value::Dict(items) => {
                    dict.extend(items);
                    Ok(())
                }
                _ => Err(fail(at, "BUILD of a dict with a state that is not a dict")),
            },
            Some(Value::Tensor(_)) => Ok(()),
            _ => Err(fail(at, "BUILD on a value that holds no state")),
        }
    }
}

fn fail(offset: usize, reason: impl Into<String>) -> PickleError {
    PickleError {
        offset,
        reason: reason.into(),
    }
}

fn pairs(items: Vec<Value>, at: usize) -> Result<Vec<(Value, Value)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err(fail(
            at,
            format!("odd number of dict items: {}", items.len()),
        ));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// `REDUCE`/`NEWOBJ`: the few callables that matter are interpreted, the rest kept inert.
fn call(callable: Value, args: Value, at: usize) -> Result<Value, PickleError> {
    let Value::Global { module, name } = callable else {
        return Err(fail(
            at,
            "call of something that is not a class or function",
        ));
    };
    let args = match args {
        Value::Tuple(items) => items,
        _ => {
            return Err(fail(
                at,
                format!("arguments of {module}.{name} are not a tuple"),
            ));
        }
    };

    match (module.as_str(), name.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => rebuild_tensor(&args, at),
        ("torch._utils", "_rebuild_parameter") => args
            .into_iter()
            .next()
            .ok_or_else(|| fail(at, "parameter without data")),
        ("collections", "OrderedDict") => Ok(Value::Dict(Vec::new())),
        ("torch.jit._pickle", n) if n.starts_with("build_") || n == "restore_type_tag" => args
            .into_iter()
            .next()
            .ok_or_else(|| fail(at, format!("{n} without an argument"))),
        _ => Ok(Value::Object {
            class: format!("{module}.{name}"),
            args,
            state: None,
        }),
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
fn rebuild_tensor(args: &[Value], at: usize) -> Result<Value, PickleError> {
    let bad = |what: &str| fail(at, format!("tensor rebuild: {what}"));
    let [storage, offset, size, stride, ..] = args else {
        return Err(bad("fewer than 4 arguments"));
    };
    let Value::Persistent(id) = storage else {
        return Err(bad("storage is not a persistent id"));
    };
    let fields = id
        .as_seq()
        .ok_or_else(|| bad("persistent id is not a tuple"))?;
    let [kind, class, key, _location, numel, ..] = fields else {
        return Err(bad("persistent id has fewer than 5 fields"));
    };
    if kind.as_str() != Some("storage") {
        return Err(bad("persistent id is not a storage"));
    }
    let dtype = match class {
        Value::Global { name, .. } => StorageType::from_class_name(name)
            .ok_or_else(|| bad(&format!("unsupported storage type {name}")))?,
        _ => return Err(bad("storage type is not a class")),
    };
    let key = match key {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => return Err(bad("storage key is not a string")),
    };

    Ok(Value::Tensor(TensorRef {
        storage: key,
        dtype,
        storage_len: non_negative(numel).ok_or_else(|| bad("storage size"))?,
        offset: non_negative(offset).ok_or_else(|| bad("offset"))?,
        shape: usize_list(size).ok_or_else(|| bad("size is not a tuple of sizes"))?,
        strides: usize_list(stride).ok_or_else(|| bad("stride is not a tuple of sizes"))?,
    }))
}

fn non_negative(v: &Value) -> Option<usize> {
    v.as_int().and_then(|i| usize::try_from(i).ok())
}

fn usize_list(v: &Value) -> Option<Vec<usize>> {
    v.as_seq()?.iter().map(non_negative).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_marks_and_globals() {
        // (GLOBAL m.f, BINPUT 0, MARK, BINGET 0, BININT2 300, LONG1 -2, TUPLE, STOP)
        let mut b = b"\x80\x02cm\nf\nq\x00(h\x00M\x2c\x01".to_vec();
        b.extend_from_slice(b"\x8a\x01\xfet.");
        let v = parse(&b).unwrap();
        let g = Value::Global {
            module: "m".into(),
            name: "f".into(),
        };
        assert_eq!(v, Value::Tuple(vec![g, Value::Int(300), Value::Int(-2)]));
    }

    #[test]
    fn unknown_class_with_state_stays_inert() {
        // GLOBAL a.B, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, SHORT_BINUNICODE "x", NEWTRUE,
        // SETITEM, BUILD, STOP
        let b = b"\x80\x02ca\nB\n)\x81}\x8c\x01x\x88sb.";
        let v = parse(b).unwrap();
        let Value::Object { class, state, .. } = v else {
            panic!("not an object: {v:?}");
        };
        assert_eq!(class, "a.B");
        let expected = Value::Dict(vec![(Value::Str("x".into()), Value::Bool(true))]);
        assert_eq!(state.as_deref(), Some(&expected));
    }

    #[test]
    fn truncated_and_unknown_streams_name_the_offset() {
        let err = parse(b"\x80\x02X\x05\x00\x00\x00ab").unwrap_err();
        assert_eq!(err.offset, 7);
        let err = parse(b"\x80\x02\xff").unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(err.reason.contains("0xff"), "{}", err.reason);
    }

    #[test]
    fn pop_below_a_mark_is_an_error() {
        assert!(parse(b"K\x01(a.").is_err());
    }
}
