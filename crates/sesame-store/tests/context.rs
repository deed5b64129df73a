//! `Store::send_context`: the rows a SendEmail checks, read at once (one multi-statement
//! query on SQLite, five on PostgreSQL), each scoped to the caller's account.

mod common;

use sesame_store::Store;
use sesame_store::tracking::UnsubscribeConfig;

const NOW: i64 = 1_800_000_000;

async fn send_context(store: &Store) {
    let account = store.create_account("ctx", NOW).await.unwrap().account_id;
    let other = store.create_account("other", NOW).await.unwrap().account_id;
    let domain = store
        .create_domain(account, "ctx.example.test", 0, "[]", &[], NOW)
        .await
        .unwrap();
    let sender = store
        .create_sender(account, domain.id, "hi@ctx.example.test", "Hi", NOW)
        .await
        .unwrap();
    let template = store
        .create_template(account, "t", "<p>{{x}}</p>", "", 1, NOW)
        .await
        .unwrap();
    let footer = UnsubscribeConfig {
        address: "hi@ctx.example.test".into(),
        language: "2".into(),
        status: 1,
    };
    assert!(
        store
            .set_unsubscribe_config(account, &footer, false, NOW)
            .await
            .unwrap()
    );

    let found = store
        .send_context(
            account,
            "hi@ctx.example.test",
            "ctx.example.test",
            Some(template.id),
        )
        .await
        .unwrap();
    assert_eq!(found.account.unwrap().id, account);
    assert_eq!(found.sender.unwrap().id, sender.id);
    assert_eq!(found.domain.unwrap().id, domain.id);
    assert_eq!(found.template.unwrap().html, "<p>{{x}}</p>");
    assert_eq!(found.unsubscribe, Some(footer));

    // No template asked, an unknown sender: only what exists comes back.
    let found = store
        .send_context(account, "who@ctx.example.test", "ctx.example.test", None)
        .await
        .unwrap();
    assert!(found.account.is_some() && found.domain.is_some());
    assert!(found.sender.is_none() && found.template.is_none() && found.unsubscribe.is_none());

    // Another account sees none of these rows.
    let found = store
        .send_context(
            other,
            "hi@ctx.example.test",
            "ctx.example.test",
            Some(template.id),
        )
        .await
        .unwrap();
    assert_eq!(found.account.unwrap().id, other);
    assert!(found.sender.is_none() && found.domain.is_none());
    assert!(found.template.is_none() && found.unsubscribe.is_none());
}

#[tokio::test]
async fn send_context_on_sqlite() {
    let t = common::sqlite().await;
    send_context(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn send_context_on_postgres() {
    if let Some(t) = common::postgres("send_context").await {
        send_context(&t.store).await;
        t.finish().await;
    }
}
