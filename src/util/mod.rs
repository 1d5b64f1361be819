//! Small helpers shared by several modules.
pub mod fs;
pub mod path;
pub mod proc;
pub mod time;

/// An io::Error's text without Rust's " (os error N)" suffix, as Go prints syscall errors.
pub fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}
