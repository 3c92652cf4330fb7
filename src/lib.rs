//! fisher-embed: Fisher-score embeddings of images from autoregressive models.
//!
//! This package re-exports the workspace's crates under one name and holds the `fisher`
//! command line program. See the README for the data flow and the two commands that set
//! everything up.
//!
//! | module | crate | owns |
//! | --- | --- | --- |
//! | [`core`] | `fisher-core` | traits, image conventions, errors |
//! | [`data`] | `fisher-data` | datasets, batching, PNG grids |
//! | [`jl`] | `fisher-jl` | sparse Johnson–Lindenstrauss projections |
//! | [`pixelcnn`] | `fisher-pixelcnn` | the density model |
//! | [`score`] | `fisher-score` | per-example Fisher scores |
//! | [`decoder`] | `fisher-decoder` | decoders from embeddings to images |
//! | [`fid`] | `fisher-fid` | FID, KID and feature extractors |

pub use fisher_core as core;
pub use fisher_data as data;
pub use fisher_decoder as decoder;
pub use fisher_fid as fid;
pub use fisher_jl as jl;
pub use fisher_pixelcnn as pixelcnn;
pub use fisher_score as score;

pub mod cli;
pub mod demo;
pub mod plot;
pub mod run;
