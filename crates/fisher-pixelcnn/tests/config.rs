//! The parameter counts documented on `PixelCnnConfig` are those of the built models.

use burn::module::Module;
use burn::tensor::Device;
use fisher_pixelcnn::{Head, PixelCnnConfig};

fn counts(config: PixelCnnConfig) -> (usize, usize) {
    let model = config.init(&Device::flex()).unwrap();
    (model.num_params(), model.num_free_parameters())
}

#[test]
fn documented_parameter_counts() {
    assert_eq!(counts(PixelCnnConfig::fashion_mnist()), (670_592, 670_464));
    let mixture = PixelCnnConfig::fashion_mnist().with_head(Head::LogisticMixture(5));
    assert_eq!(counts(mixture), (639_503, 639_375));
    assert_eq!(counts(PixelCnnConfig::rgb(32, 32)), (1_461_028, 1_381_156));
}
