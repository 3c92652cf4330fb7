//! The `fisher` program; see `fisher --help`.

fn main() -> anyhow::Result<()> {
    fisher_embed::cli::main()
}
