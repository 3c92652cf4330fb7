//! Direct access to tensors that live in host memory, for the single-pass CPU kernels of this
//! crate and of the crates built on it.
//!
//! On Burn's `flex` device a tensor's values are an ordinary slice of host memory. The kernels
//! that read them in one pass (the gate, the categorical head, the per-example convolution
//! gradients of `fisher-score`) borrow that slice through [`HostValues`] instead of copying the
//! tensor out with `into_data`, which copies whenever the tensor's storage is shared, as it is
//! for every tensor the caller keeps. On every other device [`HostValues::of`] answers `None`
//! and the caller runs tensor operations instead.

use burn::tensor::{Device, Tensor};

/// Whether tensors on `device` live in host memory as Burn's `flex` backend keeps them. An
/// autodiff device counts as the device it wraps.
pub fn on_host(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        device.clone().inner() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// The single-precision values of a tensor on the `flex` device, borrowed without a copy where
/// the tensor is contiguous. It holds a reference to the tensor's storage, so the values stay
/// valid while it lives, whatever happens to the tensor it came from.
pub struct HostValues {
    #[cfg(feature = "flex")]
    tensor: burn::backend::tensor::FloatTensor<burn::backend::Flex>,
}

impl HostValues {
    /// The values of `t`, or `None` when `t` is not on the host device or not single
    /// precision. A strided view (a slice or a transposition) is made contiguous first, which
    /// copies it once.
    pub fn of<const D: usize>(t: &Tensor<D>) -> Option<Self> {
        #[cfg(feature = "flex")]
        {
            if !on_host(&t.device()) {
                return None;
            }
            let tensor = t
                .clone()
                .inner()
                .try_into_primitive::<burn::backend::Flex>()
                .ok()?;
            let tensor = match tensor.as_slice::<f32>() {
                Some(_) => tensor,
                None => tensor.to_contiguous(),
            };
            tensor
                .as_slice::<f32>()
                .is_some()
                .then_some(Self { tensor })
        }
        #[cfg(not(feature = "flex"))]
        {
            let _ = t;
            None
        }
    }

    /// The values in the tensor's row-major order.
    pub fn as_slice(&self) -> &[f32] {
        #[cfg(feature = "flex")]
        {
            self.tensor.as_slice::<f32>().unwrap_or_default()
        }
        #[cfg(not(feature = "flex"))]
        {
            &[]
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn values_are_the_tensors_in_row_major_order_for_views_too() {
        let device = Device::flex();
        let values: Vec<f32> = (0..24).map(|v| v as f32 * 0.5 - 3.0).collect();
        let t = Tensor::<3>::from_data(TensorData::new(values.clone(), [2, 3, 4]), &device);
        let borrowed = HostValues::of(&t).expect("a flex tensor");
        assert_eq!(borrowed.as_slice(), values.as_slice());

        // A strided view reads as its own contiguous copy.
        let swapped = t.clone().swap_dims(1, 2);
        let expected: Vec<f32> = swapped.clone().into_data().iter::<f32>().collect();
        assert_eq!(
            HostValues::of(&swapped).unwrap().as_slice(),
            expected.as_slice()
        );
        let narrowed = t.narrow(2, 1, 2);
        let expected: Vec<f32> = narrowed.clone().into_data().iter::<f32>().collect();
        assert_eq!(
            HostValues::of(&narrowed).unwrap().as_slice(),
            expected.as_slice()
        );
    }

    #[test]
    fn other_element_types_are_left_to_the_tensor_operations() {
        let device = Device::flex();
        let t = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device);
        assert!(HostValues::of(&t).is_some());
        assert!(HostValues::of(&t.cast(burn::tensor::DType::F64)).is_none());
    }
}
