//! Rebuild when a migration changes: `sqlx::migrate!()` embeds migrations/
//! at compile time, and cargo does not otherwise know it depends on them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
