//! Cutting text by characters (never inside one), for echoing user input, logging and error messages
//! without letting a huge value flood a reply or a log line.

use std::borrow::Cow;

/// At most the first `max` characters of `text`.
pub fn prefix(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// `text` when it has at most `max` characters; else its first `max` and `…`.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    let cut = prefix(text, max);
    if cut.len() == text.len() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("{cut}…"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(prefix("abc", 5), "abc");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_with_an_ellipsis() {
        let long = "é".repeat(10);
        assert_eq!(prefix(&long, 4), "éééé");
        assert_eq!(truncate(&long, 4), "éééé…");
        assert_eq!(truncate("abcd", 3), "abc…");
    }
}
