//! Writes an edit table of procedural faces: each row is one face, drawn as generated and
//! then with each attribute flipped, nuisance factors and noise unchanged.
//!
//! ```text
//! cargo run --release -p fisher-data --example face_edits -- docs/img/procedural-face-edits.png
//! ```
//!
//! Prints the columns, e.g.
//!
//! ```text
//! wrote docs/img/procedural-face-edits.png: 6 faces of seed 0
//! columns: original | smiling | eyeglasses | hat | bangs | beard (flipped)
//! ```

use fisher_core::ImageBatch;
use fisher_data::{FACE_ATTRIBUTES, Faces, FacesConfig, GridLayout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "face-edits.png".to_string());
    let seed = args.get(1).map_or(Ok(0), |s| s.parse())?;
    let rows = 6;

    let faces = Faces::new(FacesConfig::default(), seed)?;
    let mut table = ImageBatch::empty(faces.shape());
    for i in 0..rows as u64 {
        let params = faces.params(i);
        table.push(&faces.render(&params))?;
        for (k, name) in FACE_ATTRIBUTES.iter().enumerate() {
            let mut edited = params.clone();
            edited.set(name, !params.attributes().to_array()[k])?;
            table.push(&faces.render(&edited))?;
        }
    }

    let cols = 1 + FACE_ATTRIBUTES.len();
    let layout = GridLayout::new(rows, cols).with_scale(4);
    fisher_data::write_grid(&out, &table, &layout)?;
    println!("wrote {out}: {rows} faces of seed {seed}");
    println!(
        "columns: original | {} (flipped)",
        FACE_ATTRIBUTES.join(" | ")
    );
    Ok(())
}
