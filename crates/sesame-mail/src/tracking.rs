//! Open and click tracking and the unsubscribe link, as pure text work: signed tokens bound to
//! one message and one recipient, the rewriting of an HTML body's links through the click
//! redirector, the open pixel, and the unsubscribe footer in the twelve languages of the API.
//!
//! A token is `<base64url(MessageId NUL recipient)>.<base64url(first 16 bytes of
//! HMAC-SHA256(secret, kind NUL MessageId NUL recipient NUL url))>`. The click token covers
//! the target URL, so the redirector only ever sends people to a URL that was in the mail;
//! nobody without the secret can make a token for another message, recipient or URL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::render::escape_html;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Open,
    Click,
    Unsubscribe,
}

impl LinkKind {
    fn label(self) -> &'static str {
        match self {
            LinkKind::Open => "open",
            LinkKind::Click => "click",
            LinkKind::Unsubscribe => "unsubscribe",
        }
    }
}

/// Bytes of the MAC kept in a token.
const MAC_BYTES: usize = 16;

/// Makes and checks tokens with one secret.
#[derive(Clone)]
pub struct LinkSigner {
    secret: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    pub fn new(secret: [u8; 32]) -> LinkSigner {
        LinkSigner { secret }
    }

    fn mac(&self, kind: LinkKind, message_id: &str, recipient: &str, url: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts any key length");
        for part in [kind.label(), message_id, recipient, url] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac
    }

    /// The token of `kind` for one recipient of one message (`url` for clicks, else "").
    pub fn token(&self, kind: LinkKind, message_id: &str, recipient: &str, url: &str) -> String {
        let tag = self
            .mac(kind, message_id, recipient, url)
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!("{message_id}\0{recipient}")),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
        )
    }

    /// The (MessageId, recipient) a token names, if its MAC checks for `kind` and `url`.
    pub fn verify(&self, kind: LinkKind, token: &str, url: &str) -> Option<(String, String)> {
        if token.len() > 2048 {
            return None;
        }
        let (ids, tag) = token.split_once('.')?;
        let ids = String::from_utf8(URL_SAFE_NO_PAD.decode(ids).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let (message_id, recipient) = ids.split_once('\0')?;
        if tag.len() != MAC_BYTES {
            return None;
        }
        self.mac(kind, message_id, recipient, url)
            .verify_truncated_left(&tag)
            .ok()?;
        Some((message_id.to_string(), recipient.to_string()))
    }
}

/// The links of one recipient's copy of a message, under `base` (`[api] public_url`).
#[derive(Debug, Clone)]
pub struct RecipientLinks<'a> {
    pub signer: &'a LinkSigner,
    pub base: &'a str,
    pub message_id: &'a str,
    pub recipient: &'a str,
}

impl RecipientLinks<'_> {
    fn base(&self) -> &str {
        self.base.trim_end_matches('/')
    }

    /// The open pixel's URL.
    pub fn open_url(&self) -> String {
        let token = self
            .signer
            .token(LinkKind::Open, self.message_id, self.recipient, "");
        format!("{}/t/o/{token}.gif", self.base())
    }

    /// The redirector's URL for `target`.
    pub fn click_url(&self, target: &str) -> String {
        let token = self
            .signer
            .token(LinkKind::Click, self.message_id, self.recipient, target);
        let query: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
        format!("{}/t/c/{token}?u={query}", self.base())
    }

    /// The unsubscribe page (GET: confirm; POST: RFC 8058 one-click).
    pub fn unsubscribe_url(&self) -> String {
        let token = self
            .signer
            .token(LinkKind::Unsubscribe, self.message_id, self.recipient, "");
        format!("{}/u/{token}", self.base())
    }
}

/// Rewrites every `<a href="http(s)://...">` of `html` through `rewrite` (which gets the URL
/// with HTML entities decoded and returns the new URL). Other links (mailto:, anchors, ...)
/// and everything else stay byte for byte.
pub fn rewrite_links(html: &str, mut rewrite: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a") {
        let tag_start = at + found;
        let after = lower.as_bytes().get(tag_start + 2).copied();
        if !matches!(after, Some(b' ' | b'\t' | b'\r' | b'\n')) {
            out.push_str(&html[at..tag_start + 2]);
            at = tag_start + 2;
            continue;
        }
        let Some(tag_len) = lower[tag_start..].find('>') else {
            break;
        };
        let tag_end = tag_start + tag_len;
        out.push_str(&html[at..tag_start]);
        out.push_str(&rewrite_tag(&html[tag_start..tag_end], &mut rewrite));
        at = tag_end;
    }
    out.push_str(&html[at..]);
    out
}

/// One `<a ...` tag (without its `>`) with its href rewritten.
fn rewrite_tag(tag: &str, rewrite: &mut impl FnMut(&str) -> Option<String>) -> String {
    let lower = tag.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find("href") {
        let name_start = search + found;
        search = name_start + 4;
        let before = lower.as_bytes()[name_start.saturating_sub(1)];
        if name_start == 0 || !before.is_ascii_whitespace() {
            continue;
        }
        let rest = &lower[search..];
        let eq = rest.len() - rest.trim_start().len();
        if !rest[eq..].starts_with('=') {
            continue;
        }
        let value_at = search + eq + 1;
        let ws = lower[value_at..].len() - lower[value_at..].trim_start().len();
        let value_at = value_at + ws;
        let (start, end) = match tag.as_bytes().get(value_at) {
            Some(q @ (b'"' | b'\'')) => {
                let Some(close) = tag[value_at + 1..].find(*q as char) else {
                    return tag.to_string();
                };
                (value_at + 1, value_at + 1 + close)
            }
            Some(_) => {
                let len = tag[value_at..]
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(tag.len() - value_at);
                (value_at, value_at + len)
            }
            None => return tag.to_string(),
        };
        let url = decode_entities(tag[start..end].trim());
        let lower_url = url.to_ascii_lowercase();
        if !(lower_url.starts_with("http://") || lower_url.starts_with("https://")) {
            return tag.to_string();
        }
        let Some(new) = rewrite(&url) else {
            return tag.to_string();
        };
        return format!("{}{}{}", &tag[..start], escape_html(&new), &tag[end..]);
    }
    tag.to_string()
}

/// The entities that appear in URLs of real mail: `&amp;`, `&#38;`, `&#x26;`, `&quot;`, `&#39;`.
fn decode_entities(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x26;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// `html` with the open pixel before its last `</body>` (or at the end).
pub fn add_pixel(html: &str, pixel_url: &str) -> String {
    let img = format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none;border:0\">",
        escape_html(pixel_url)
    );
    insert_before_body_end(html, &img)
}

fn insert_before_body_end(html: &str, insert: &str) -> String {
    match html.to_ascii_lowercase().rfind("</body") {
        Some(at) => format!("{}{insert}{}", &html[..at], &html[at..]),
        None => format!("{html}{insert}"),
    }
}

/// The footer sentence and link text of `language` (the API's `Unsubscribe` codes 1-12).
pub fn footer_text(language: u8) -> Option<(&'static str, &'static str)> {
    Some(match language {
        1 => ("如果您不想再收到此类邮件，请", "退订"),
        2 => (
            "If you no longer wish to receive these emails, you can",
            "unsubscribe",
        ),
        3 => ("如果您不想再收到此類郵件，請", "取消訂閱"),
        4 => (
            "Si ya no desea recibir estos correos, puede",
            "darse de baja",
        ),
        5 => (
            "Si vous ne souhaitez plus recevoir ces e-mails, vous pouvez",
            "vous désabonner",
        ),
        6 => (
            "Wenn Sie diese E-Mails nicht mehr erhalten möchten, können Sie sich",
            "abmelden",
        ),
        7 => (
            "今後このようなメールの受信を希望されない場合は、",
            "配信停止",
        ),
        8 => ("더 이상 이 이메일을 받고 싶지 않으시면", "수신 거부"),
        9 => (
            "إذا لم تعد ترغب في تلقي هذه الرسائل، يمكنك",
            "إلغاء الاشتراك",
        ),
        10 => (
            "หากคุณไม่ต้องการรับอีเมลเหล่านี้อีกต่อไป คุณสามารถ",
            "ยกเลิกการรับข่าวสาร",
        ),
        11 => (
            "Jika Anda tidak ingin lagi menerima email ini, Anda dapat",
            "berhenti berlangganan",
        ),
        12 => (
            "Nếu bạn không muốn nhận những email này nữa, bạn có thể",
            "hủy đăng ký",
        ),
        _ => return None,
    })
}

/// The HTML body with the unsubscribe footer before `</body>`.
pub fn add_html_footer(html: &str, language: u8, url: &str) -> String {
    let Some((sentence, link)) = footer_text(language) else {
        return html.to_string();
    };
    let direction = if language == 9 { " dir=\"rtl\"" } else { "" };
    let footer = format!(
        "<p{direction} style=\"font-size:12px;color:#888\">{sentence} <a href=\"{}\">{link}</a>.</p>",
        escape_html(url)
    );
    insert_before_body_end(html, &footer)
}

/// The text body with the unsubscribe footer at the end.
pub fn add_text_footer(text: &str, language: u8, url: &str) -> String {
    let Some((sentence, link)) = footer_text(language) else {
        return text.to_string();
    };
    let sep = if text.ends_with('\n') { "\n" } else { "\n\n" };
    format!("{text}{sep}-- \n{sentence} {link}: {url}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new([7; 32])
    }

    #[test]
    fn tokens_bind_kind_message_recipient_and_url() {
        let s = signer();
        let t = s.token(
            LinkKind::Click,
            "qcloudses-1",
            "a@example.com",
            "https://x.test/a",
        );
        assert_eq!(
            s.verify(LinkKind::Click, &t, "https://x.test/a"),
            Some(("qcloudses-1".into(), "a@example.com".into()))
        );
        assert_eq!(s.verify(LinkKind::Click, &t, "https://evil.test/"), None);
        assert_eq!(s.verify(LinkKind::Open, &t, "https://x.test/a"), None);
        let other = LinkSigner::new([8; 32]);
        assert_eq!(other.verify(LinkKind::Click, &t, "https://x.test/a"), None);
        // Another recipient's ids with this tag.
        let (_, tag) = t.split_once('.').unwrap();
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode("qcloudses-1\0b@example.com")
        );
        assert_eq!(s.verify(LinkKind::Click, &forged, "https://x.test/a"), None);
        for junk in ["", ".", "a.b", "!!!.???", &"x".repeat(5000)] {
            assert_eq!(s.verify(LinkKind::Open, junk, ""), None);
        }
    }

    #[test]
    fn links_are_rewritten_and_the_rest_is_kept() {
        let html = "<p>Hi <A HREF=\"https://shop.test/a?x=1&amp;y=2\" class=b>shop</A> \
                    <a href='mailto:x@y.z'>mail</a> <a name=top>t</a> <abbr>x</abbr> \
                    <a\nhref=http://plain.test/p>p</a></p>";
        let mut seen = Vec::new();
        let out = rewrite_links(html, |url| {
            seen.push(url.to_string());
            Some(format!("https://t.test/c?u={}&n={}", url.len(), seen.len()))
        });
        assert_eq!(seen, ["https://shop.test/a?x=1&y=2", "http://plain.test/p"]);
        assert!(
            out.contains("<A HREF=\"https://t.test/c?u=27&amp;n=1\" class=b>shop</A>"),
            "{out}"
        );
        assert!(out.contains("<a href='mailto:x@y.z'>mail</a> <a name=top>t</a> <abbr>x</abbr>"));
        assert!(
            out.contains("<a\nhref=https://t.test/c?u=19&amp;n=2>p</a>"),
            "{out}"
        );
        assert_eq!(rewrite_links("no links <a", |_| None), "no links <a");
    }

    #[test]
    fn pixel_and_footers() {
        assert_eq!(
            add_pixel("<html><body>x</BODY></html>", "https://t/o.gif"),
            "<html><body>x<img src=\"https://t/o.gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none;border:0\"></BODY></html>"
        );
        assert!(add_pixel("x", "u").starts_with("x<img"));
        for language in 1..=12 {
            let html = add_html_footer("<body>x</body>", language, "https://u/1");
            assert!(html.contains("href=\"https://u/1\"") && html.ends_with("</body>"));
            assert!(add_text_footer("x", language, "https://u/1").contains("https://u/1"));
        }
        assert_eq!(footer_text(0), None);
        assert_eq!(footer_text(13), None);
    }
}
