//! docs/configuration.md is the config reference: its TOML block must load, and every
//! field of every section struct in src/config.rs must appear in it (set or commented out),
//! so a new key cannot ship undocumented.

use std::collections::BTreeSet;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The fenced TOML block of the page.
fn toml_block(page: &str) -> String {
    let start = page.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let end = page[start..].find("```").expect("the block's end") + start;
    page[start..end].to_string()
}

/// `section.key` for every key line of the block, commented-out ones included.
fn documented_keys(block: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in block.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(rest) = line.strip_prefix('[') {
            section = rest.split(']').next().unwrap_or("").to_string();
        } else if let Some((key, _)) = line.split_once(" = ")
            && !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// `section.field` for every field of the section structs named by `Config`'s fields.
fn struct_keys(source: &str) -> BTreeSet<String> {
    let fields_of = |name: &str| -> Vec<(String, String)> {
        let head = format!("pub struct {name} {{");
        let start = source
            .find(&head)
            .unwrap_or_else(|| panic!("{head} in config.rs"))
            + head.len();
        let end = source[start..].find("\n}").expect("struct end") + start;
        source[start..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub "))
            .filter_map(|l| l.split_once(':'))
            .map(|(field, ty)| {
                (
                    field.trim().to_string(),
                    ty.trim().trim_end_matches(',').to_string(),
                )
            })
            .collect()
    };
    let mut keys = BTreeSet::new();
    for (section, ty) in fields_of("Config") {
        for (field, _) in fields_of(&ty) {
            keys.insert(format!("{section}.{field}"));
        }
    }
    keys
}

#[test]
fn the_config_page_covers_every_key_and_loads() {
    let page = read("../../docs/configuration.md");
    let block = toml_block(&page);
    if let Err(e) = sesame_core::Config::parse(&block) {
        panic!("the block of docs/configuration.md does not load: {e}");
    }
    let documented = documented_keys(&block);
    let wanted = struct_keys(&read("src/config.rs"));
    assert!(wanted.len() > 40, "found only {wanted:?}");
    let missing: Vec<_> = wanted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&wanted).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md names keys that do not exist: {unknown:?}"
    );
}

#[test]
fn the_sample_production_config_loads() {
    if let Err(e) = sesame_core::Config::parse(&read("../../deploy/sesame.toml")) {
        panic!("deploy/sesame.toml does not load: {e}");
    }
}
