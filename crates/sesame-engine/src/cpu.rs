//! Where CPU-heavy work runs. Work a caller waits for (checking a batch's renders) runs on
//! tokio's blocking pool. Work nobody waits for (rendering and DKIM-signing copies at
//! delivery) runs on the background threads here, one per core, each at a lower scheduling
//! priority (nice 10), and the background tasks themselves on a runtime of such threads
//! (`background_runtime`): when SendEmail or SMTP intake and delivery want the cores at the
//! same time, the kernel gives them to intake first, and delivery catches up when the burst
//! is over. On an idle machine the background threads have every core.

use std::sync::{Arc, Mutex, OnceLock, mpsc};

/// The nice value of the background threads: 10 weighs about a tenth of a normal thread.
const BACKGROUND_NICE: i32 = 10;

/// How many cores a piece of CPU work may take at once.
#[derive(Debug, Clone, Copy)]
pub enum Cores {
    /// Every core, at normal priority: work a caller waits for.
    All,
    /// The background threads: work no caller waits for.
    Background,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Background {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The background threads, started at first use.
fn background() -> &'static Background {
    static POOL: OnceLock<Background> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = 0;
        for i in 0..cores() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sesame-bg-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A job that panics drops its answer (its caller sees the
                            // failure); the thread lives on for the next one.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            match spawned {
                Ok(_) => threads += 1,
                Err(e) => tracing::error!(error = %e, "could not start a background CPU thread"),
            }
        }
        Background { jobs, threads }
    })
}

/// A tokio runtime for the work no caller waits on (the delivery worker, the batch scheduler,
/// webhooks, retention, DNS rechecks), one worker thread per core, every thread of it (its
/// blocking pool too) at the background priority. `serve` runs intake (API, SMTP) on the main
/// runtime: its tasks never queue behind a delivery pass on a worker thread, and the kernel
/// gives them the cores first.
pub fn background_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .thread_name("sesame-bg-rt")
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
}

/// Lowers the calling thread's priority (Linux: nice is per thread). A failure only costs
/// the priority, so it is logged and the thread works on.
pub fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), BACKGROUND_NICE) {
        tracing::debug!(error = %e, "background CPU thread keeps its priority");
    }
}

/// Runs `work` over `items` in one part per core `cores` may take; the results come back in
/// the items' order. `None` if a part panicked (or the background threads are gone).
pub async fn in_parts<T, R, F>(items: Vec<T>, cores: Cores, work: F) -> Option<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    // Without a background thread (none could start), the blocking pool does the work.
    let cores = match cores {
        Cores::Background if background().threads == 0 => Cores::All,
        cores => cores,
    };
    let parts = match cores {
        Cores::All => self::cores(),
        Cores::Background => background().threads,
    };
    let per_part = items.len().div_ceil(parts).max(1);
    let work = Arc::new(work);
    let mut items = items.into_iter().peekable();
    let mut answers = Vec::new();
    while items.peek().is_some() {
        let part: Vec<T> = items.by_ref().take(per_part).collect();
        let work = work.clone();
        let run = move || part.into_iter().map(|item| work(item)).collect::<Vec<R>>();
        let (answer, answered) = tokio::sync::oneshot::channel();
        match cores {
            Cores::All => {
                tokio::task::spawn_blocking(move || {
                    let _ = answer.send(run());
                });
            }
            Cores::Background => {
                let job: Job = Box::new(move || {
                    let _ = answer.send(run());
                });
                background().jobs.send(job).ok()?;
            }
        }
        answers.push(answered);
    }
    let mut done = Vec::new();
    for answered in answers {
        // A part that panicked drops its sender: the whole call fails.
        done.extend(answered.await.ok()?);
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::{Cores, in_parts};

    #[tokio::test]
    async fn parts_come_back_in_order_on_both_pools() {
        for cores in [Cores::All, Cores::Background] {
            let out = in_parts((0..1000).collect(), cores, |i: u64| i * 2)
                .await
                .unwrap();
            assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[tokio::test]
    async fn a_panicking_part_fails_the_call_and_the_pool_lives_on() {
        let failed = in_parts(vec![1, 2, 3], Cores::Background, |i: u32| {
            assert_ne!(i, 2, "part panics");
            i
        })
        .await;
        assert!(failed.is_none());
        let fine = in_parts(vec![1, 2, 3], Cores::Background, |i: u32| i).await;
        assert_eq!(fine, Some(vec![1, 2, 3]));
    }
}
