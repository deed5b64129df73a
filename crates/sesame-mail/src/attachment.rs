//! Attachment rules of the SES API (SES-REFERENCE §10) as pure checks: file names, the
//! extension allow- and block-lists, count and size limits, and the MIME type a file name
//! implies. Decoding base64 and mapping errors to Tencent codes happen in the API layer.

/// At most this many attachments per message (`FailedOperation.TooManyAttachments`).
pub const MAX_ATTACHMENTS: usize = 10;

/// Total raw (decoded) attachment bytes per API message: 4 MiB, since the 8 MB request limit
/// holds base64 that grows by a third (`FailedOperation.AttachContentToolarge`).
pub const MAX_TOTAL_BYTES_API: usize = 4 * 1024 * 1024;

/// Longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Characters a file name must not contain (besides control characters).
const FORBIDDEN_CHARS: &[char] = &[' ', '?', '\\', '*', '|', '"', '<', '>', ':', '/'];

/// Extensions Tencent accepts.
const ALLOWED: &[&str] = &[
    "xlsx", "xls", "ods", "docx", "docm", "doc", "csv", "pdf", "txt", "gif", "jpg", "jpeg", "png",
    "tif", "tiff", "rtf", "bmp", "cgm", "css", "shtml", "html", "htm", "zip", "xml", "ppt", "pptx",
    "tar", "ez", "ics", "mobi", "msg", "pub", "eps", "odt", "mp3", "m4a",
];

/// Extensions Tencent refuses, including the extras of its older list. The allow-list
/// already excludes them; the block-list is kept so that widening the allow-list later can
/// never let one of these through.
const BLOCKED: &[&str] = &[
    // Media.
    "m4v", "wma", "ogg", "flac", "wav", "aif", "aifc", "aiff", "mp4", "mov", "avi", "mkv", "mpeg",
    "mpg", "wmv", // Executables and scripts.
    "ade", "adp", "app", "asp", "bas", "bat", "cer", "chm", "cmd", "com", "cpl", "crt", "csh",
    "der", "exe", "fxp", "gadget", "hlp", "hta", "inf", "ins", "isp", "its", "js", "jse", "ksh",
    "lib", "lnk", "mad", "maf", "mag", "mam", "maq", "mar", "mas", "mat", "mau", "mav", "maw",
    "mda", "mdb", "mde", "mdt", "mdw", "mdz", "msc", "msh", "msh1", "msh2", "mshxml", "msh1xml",
    "msh2xml", "msi", "msp", // The older list's extras.
    "mst", "ops", "pcd", "pif", "plg", "prf", "prg", "reg", "scf", "scr", "sct", "shb", "shs",
    "sys", "ps1", "ps1xml", "ps2", "ps2xml", "psc1", "psc2", "tmp", "url", "vb", "vbe", "vbs",
    "vps", "vsmacros", "vss", "vst", "vsw", "vxd", "ws", "wsc", "wsf", "wsh", "xnk",
];

/// Why a file name is refused (`FailedOperation.InvalidAttachName`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("attachment name is empty")]
    EmptyName,
    #[error("attachment name is longer than 255 characters")]
    NameTooLong,
    #[error("attachment name contains {0:?}")]
    ForbiddenChar(char),
    #[error("attachment name has no extension")]
    NoExtension,
    #[error("attachment extension `{0}` is not allowed")]
    ExtensionNotAllowed(String),
}

/// Checks a `FileName` against the rules of §10.
pub fn check_name(name: &str) -> Result<(), AttachmentError> {
    if name.is_empty() {
        return Err(AttachmentError::EmptyName);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AttachmentError::NameTooLong);
    }
    if let Some(bad) = name
        .chars()
        .find(|c| FORBIDDEN_CHARS.contains(c) || c.is_control())
    {
        return Err(AttachmentError::ForbiddenChar(bad));
    }
    let extension = extension(name).ok_or(AttachmentError::NoExtension)?;
    let allowed = ALLOWED.contains(&extension.as_str()) && !BLOCKED.contains(&extension.as_str());
    if !allowed {
        return Err(AttachmentError::ExtensionNotAllowed(extension));
    }
    Ok(())
}

/// Whether a file name has an extension of the block-list (executables, scripts, media).
/// Mail submitted whole over SMTP is held to this list only: its client chose the names.
pub fn is_blocked(name: &str) -> bool {
    extension(name.trim_end_matches(['"', ' ', '.'])).is_some_and(|e| BLOCKED.contains(&e.as_str()))
}

/// The lowercased extension after the last dot, if there is a non-empty one.
fn extension(name: &str) -> Option<String> {
    let (_, extension) = name.rsplit_once('.')?;
    (!extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

/// The MIME type of an attachment part, guessed from the name's extension.
pub fn content_type(name: &str) -> &'static str {
    match extension(name).as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("bmp") => "image/bmp",
        Some("tif" | "tiff") => "image/tiff",
        Some("cgm") => "image/cgm",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm" | "shtml") => "text/html",
        Some("css") => "text/css",
        Some("xml") => "application/xml",
        Some("ics") => "text/calendar",
        Some("rtf") => "application/rtf",
        Some("zip") => "application/zip",
        Some("tar") => "application/x-tar",
        Some("ez") => "application/andrew-inset",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("docm") => "application/vnd.ms-word.document.macroEnabled.12",
        Some("xls") => "application/vnd.ms-excel",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("ppt") => "application/vnd.ms-powerpoint",
        Some("pptx") => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Some("ods") => "application/vnd.oasis.opendocument.spreadsheet",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("pub") => "application/vnd.ms-publisher",
        Some("msg") => "application/vnd.ms-outlook",
        Some("mobi") => "application/x-mobipocket-ebook",
        Some("eps") => "application/postscript",
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is `Ok(content type)` for an accepted name, or the error.
    fn check(name: &str, expected: Result<&str, AttachmentError>) {
        let got = check_name(name).map(|()| content_type(name));
        assert_eq!(got, expected, "name {name:?}");
    }

    #[test]
    fn block_list_for_smtp() {
        assert!(is_blocked("setup.EXE"));
        assert!(is_blocked("run.js."));
        assert!(!is_blocked("my report.pdf"));
        assert!(!is_blocked("data.json"));
        assert!(!is_blocked("noextension"));
    }

    #[test]
    fn accepted_names() {
        check("report.pdf", Ok("application/pdf"));
        check("Photo.PNG", Ok("image/png"));
        check("报告-2024_v1.xlsx", Ok(content_type("a.xlsx")));
        check("notes.txt", Ok("text/plain"));
        check("data.CSV", Ok("text/csv"));
        check("page.htm", Ok("text/html"));
        check("a.b.zip", Ok("application/zip"));
        check(&format!("{}.pdf", "a".repeat(251)), Ok("application/pdf"));
    }

    #[test]
    fn refused_names() {
        check("", Err(AttachmentError::EmptyName));
        check(
            &format!("{}.pdf", "a".repeat(252)),
            Err(AttachmentError::NameTooLong),
        );
        check("my file.pdf", Err(AttachmentError::ForbiddenChar(' ')));
        for bad in ['?', '\\', '*', '|', '"', '<', '>', ':', '/', '\r', '\n'] {
            check(
                &format!("a{bad}b.pdf"),
                Err(AttachmentError::ForbiddenChar(bad)),
            );
        }
        check("README", Err(AttachmentError::NoExtension));
        check("trailing.", Err(AttachmentError::NoExtension));
        for blocked in ["setup.EXE", "a.js", "x.ps1", "clip.mp4", "v.vbs", "t.tmp"] {
            let extension = blocked
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase());
            check(
                blocked,
                Err(AttachmentError::ExtensionNotAllowed(
                    extension.unwrap_or_default(),
                )),
            );
        }
        check(
            "archive.7z",
            Err(AttachmentError::ExtensionNotAllowed("7z".into())),
        );
    }

    #[test]
    fn lists_do_not_overlap() {
        for extension in ALLOWED {
            assert!(!BLOCKED.contains(extension), "{extension} on both lists");
        }
    }
}
