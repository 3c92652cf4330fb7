//! Writes a sample sheet of procedural faces to a PNG file.
//!
//! ```text
//! cargo run --release -p fisher-data --example face_grid -- docs/img/procedural-faces.png
//! cargo run --release -p fisher-data --example face_grid -- faces.png --seed 7 --size 64
//! ```
//!
//! Prints the attributes of each face, row by row, e.g.
//!
//! ```text
//! wrote docs/img/procedural-faces.png: 8 x 8 faces of seed 0, 32 px, magnified 4 times
//! row 0: G. | S.. | .G.. | ...
//! ```

use fisher_data::{Faces, FacesConfig, GridLayout};

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    let at = args.iter().position(|a| a == name);
    let value = at.and_then(|i| args.get(i + 1));
    value.map_or(default, |v| v.parse().expect("a whole number"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "faces.png".to_string());
    let seed = flag(&args, "--seed", 0);
    let size = flag(&args, "--size", 32) as usize;
    let (rows, cols) = (8, 8);

    let faces = Faces::new(FacesConfig::default().with_size(size), seed)?;
    let data = faces.generate(0, rows * cols)?;
    let scale = (128 / size).max(1);
    let layout = GridLayout::new(rows, cols).with_scale(scale);
    fisher_data::write_grid(&out, data.images(), &layout)?;

    println!(
        "wrote {out}: {rows} x {cols} faces of seed {seed}, {size} px, magnified {scale} times"
    );
    println!("attributes: S smiling, G eyeglasses, H hat, B bangs, R beard");
    for r in 0..rows {
        let cells: Vec<String> = (r * cols..(r + 1) * cols)
            .map(|i| {
                let row = data.attributes().row(i);
                let letters = ['S', 'G', 'H', 'B', 'R'];
                let set: String = letters
                    .iter()
                    .zip(row)
                    .filter(|(_, v)| **v)
                    .map(|(l, _)| *l)
                    .collect();
                if set.is_empty() { "-".to_string() } else { set }
            })
            .collect();
        println!("row {r}: {}", cells.join(" | "));
    }
    Ok(())
}
