//! Bad settings and misplaced chunks are typed errors naming the values involved, and a
//! refused chunk leaves the accumulator as it was.

use burn::tensor::{Device, Tensor};
use fisher_jl::{Error, ProjectionConfig, ProjectionKind};
use ndarray::{Array2, s};

#[test]
fn invalid_settings_are_refused() {
    let sparse = |s| ProjectionKind::SparseJl { nonzeros: s };
    let dense = |density| ProjectionKind::VerySparse {
        density: Some(density),
    };
    assert!(matches!(
        ProjectionConfig::new(10, 0).init(),
        Err(Error::OutputDim { k: 0, .. })
    ));
    assert!(matches!(
        ProjectionConfig::new(10, (1 << 30) + 1).init(),
        Err(Error::OutputDim { .. })
    ));
    assert!(matches!(
        ProjectionConfig::new(0, 8).init(),
        Err(Error::InputDim)
    ));
    for s in [0, 17] {
        let e = ProjectionConfig::new(10, 64).with_kind(sparse(s)).init();
        assert!(
            matches!(e, Err(Error::Nonzeros { s: found, .. }) if found == s),
            "{e:?}"
        );
    }
    let e = ProjectionConfig::new(10, 3).with_kind(sparse(4)).init();
    assert!(
        matches!(e, Err(Error::Nonzeros { s: 4, k: 3, .. })),
        "{e:?}"
    );
    let message = e.unwrap_err().to_string();
    assert!(
        message.contains("s = 4") && message.contains("k = 3"),
        "{message}"
    );
    for density in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let e = ProjectionConfig::new(10, 8)
            .with_kind(dense(density))
            .init();
        assert!(matches!(e, Err(Error::Density { .. })), "{density}: {e:?}");
    }
    assert!(
        ProjectionConfig::new(10, 8)
            .with_kind(dense(1.0))
            .init()
            .is_ok()
    );
    assert!(
        ProjectionConfig::new(10, 3)
            .with_kind(sparse(3))
            .init()
            .is_ok()
    );
}

#[test]
fn chunks_past_the_end_or_overlapping_are_refused_and_change_nothing() {
    let d = 100;
    let p = ProjectionConfig::new(d, 16).init().unwrap();
    let x = Array2::from_shape_fn((2, d), |(b, j)| (b * d + j) as f32);
    let mut acc = p.accumulator(2);
    p.accumulate(10, x.slice(s![.., 10..40]), &mut acc).unwrap();
    let before = acc.partial();

    let e = p.accumulate(90, x.slice(s![.., 0..11]), &mut acc);
    assert!(
        matches!(
            e,
            Err(Error::PastEnd {
                offset: 90,
                end: 101,
                d: 100
            })
        ),
        "{e:?}"
    );
    let e = p.accumulate(39, x.slice(s![.., 39..41]), &mut acc);
    assert!(
        matches!(
            e,
            Err(Error::Overlap {
                offset: 39,
                end: 41,
                fed_start: 10,
                fed_end: 40
            })
        ),
        "{e:?}"
    );
    let e = p.accumulate(0, x.slice(s![.., 0..11]), &mut acc);
    assert!(matches!(e, Err(Error::Overlap { .. })), "{e:?}");
    assert_eq!(acc.partial(), before);
    assert_eq!(acc.coverage().ranges().collect::<Vec<_>>(), vec![10..40]);

    let e = acc.clone().finish();
    assert!(
        matches!(
            e,
            Err(Error::Incomplete {
                missing_start: 0,
                missing_end: 10,
                d: 100
            })
        ),
        "{e:?}"
    );
    p.accumulate(0, x.slice(s![.., 0..10]), &mut acc).unwrap();
    p.accumulate(40, x.slice(s![.., 40..]), &mut acc).unwrap();
    assert_eq!(acc.finish().unwrap(), p.project(x.view()).unwrap());
}

#[test]
fn shapes_and_foreign_accumulators_are_refused() {
    let p = ProjectionConfig::new(50, 8).init().unwrap();
    let other = ProjectionConfig::new(50, 8).with_seed(1).init().unwrap();
    let x = Array2::<f32>::zeros((3, 50));
    assert!(matches!(
        p.project(Array2::<f32>::zeros((3, 49)).view()),
        Err(Error::Core(_))
    ));
    let mut acc = p.accumulator(2);
    assert!(matches!(
        p.accumulate(0, x.view(), &mut acc),
        Err(Error::Core(_))
    ));
    let mut acc = other.accumulator(3);
    assert!(matches!(
        p.accumulate(0, x.view(), &mut acc),
        Err(Error::Foreign { .. })
    ));
    assert!(matches!(
        p.transpose(Array2::<f32>::zeros((1, 9)).view()),
        Err(Error::Core(_))
    ));
    let z = Array2::<f32>::zeros((1, 8));
    assert!(matches!(
        p.transpose_range(z.view(), 40, 11),
        Err(Error::PastEnd { .. })
    ));
    assert!(matches!(p.column(50), Err(Error::PastEnd { .. })));
}

#[test]
fn non_finite_inputs_are_reported_on_finish() {
    let p = ProjectionConfig::new(20, 8).init().unwrap();
    let mut x = Array2::<f32>::ones((2, 20));
    x[[1, 7]] = f32::NAN;
    let e = p.project(x.view());
    match e {
        Err(Error::Core(fisher_core::Error::NonFinite { index, .. })) => {
            assert!(
                index >= 8,
                "the NaN is in batch row 1, outputs 8..16: {index}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tensor_path_refuses_bad_chunks_and_shapes() {
    let device = Device::flex();
    let p = ProjectionConfig::new(30, 8).init().unwrap();
    let block = Tensor::<2>::ones([2, 10], &device);
    let acc = Tensor::<2>::zeros([2, 8], &device);
    let e = p.accumulate_tensor(25, block.clone(), acc.clone());
    assert!(
        matches!(
            e,
            Err(Error::PastEnd {
                offset: 25,
                end: 35,
                d: 30
            })
        ),
        "{e:?}"
    );
    let e = p.accumulate_tensor(0, block.clone(), Tensor::zeros([3, 8], &device));
    assert!(matches!(e, Err(Error::Core(_))), "{e:?}");
    let e = p.project_tensor(block);
    assert!(matches!(e, Err(Error::Core(_))), "{e:?}");

    // Through the core trait the errors keep their numbers.
    let core: fisher_core::Error = Error::PastEnd {
        offset: 25,
        end: 35,
        d: 30,
    }
    .into();
    assert!(core.to_string().contains("35"), "{core}");
}
