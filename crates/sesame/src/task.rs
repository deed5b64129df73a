//! `sesame task`: operator actions on batch tasks that the API has no action for. `stop`
//! ends a cyclic task's cycles (what TermCycle does at creation). Prints one JSON object.

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use sesame_store::bulk::StopCycles;

use crate::cli::{ConfigArg, load_config, open_store};

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Stop a cyclic batch task: no further cycle starts. A task between cycles is finished at
    /// once; a run in progress (or paused for the daily quota) completes first. Prints
    /// {"AppId", "TaskId", "Stopped": true, "RunInProgress"}.
    #[command(after_help = "Example:\n  sesame task stop --app-id 1000001 --task-id 42")]
    Stop {
        /// The account (AppId) the task belongs to.
        #[arg(long = "app-id")]
        app_id: i64,
        /// The TaskId BatchSendEmail answered (ListSendTasks lists them).
        #[arg(long = "task-id")]
        task_id: i64,
    },
}

pub async fn main(command: TaskCommand, config: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let store = open_store(&config).await?;
    let TaskCommand::Stop { app_id, task_id } = command;
    let result = store
        .stop_cycles(app_id, task_id, sesame_core::time::now_unix())
        .await;
    store.close().await;
    match result? {
        StopCycles::Stopped { run_in_progress } => {
            println!(
                "{}",
                json!({"AppId": app_id, "TaskId": task_id, "Stopped": true, "RunInProgress": run_in_progress})
            );
            Ok(())
        }
        StopCycles::NotFound => bail!("account {app_id} has no batch task {task_id}"),
        StopCycles::NotCyclic => {
            bail!("task {task_id} is not cyclic (TaskType 3): it has no cycles to stop")
        }
        StopCycles::AlreadyOver => {
            bail!(
                "task {task_id} runs no further cycles already (stopped, TermCycle, finished or failed)"
            )
        }
        StopCycles::Busy => {
            bail!("task {task_id} is starting a run right now: try again in a few seconds")
        }
    }
}
