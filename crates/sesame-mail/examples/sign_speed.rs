//! Time of one DKIM signature (RSA-2048, a ~3.6 KB message) on one thread, the cost delivery
//! pays per message (on an idle machine, CPU time):
//! `cargo run --release -p sesame-mail --example sign_speed [N]` (default 2 000 signatures).
//! A benchmark, not a test: it prints a figure and checks nothing (bench/README.md).

use sesame_mail::sign::DkimSigningKey;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000)
        .max(1);
    let key = sesame_mail::dkim::generate_rsa(2048).expect("a fresh RSA-2048 key");
    let signer = DkimSigningKey::from_pkcs1_der(&key.private_key).expect("its own key parses");
    let line = "x".repeat(70) + "\r\n";
    let message = format!(
        "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{}",
        line.repeat(48)
    );
    let started = std::time::Instant::now();
    for _ in 0..n {
        let header = signer
            .sign_with(message.as_bytes(), "example.com", "s")
            .expect("signs");
        std::hint::black_box(header);
    }
    let per = started.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    println!(
        "{per:.3} ms per RSA-2048 DKIM signature, one thread ({} bytes, {n} signatures)",
        message.len()
    );
}
