//! Tokio's side of the peer comparison, written as Tokio users write it:
//! `tokio::spawn` for every task and `JoinHandle.await` to join, on a
//! multi-thread runtime with `worker_threads(workers)`; `yield_now` and
//! `tokio::sync::mpsc` on a `current_thread` runtime for the one-worker
//! workloads. Recursive async functions return a boxed future, as they must.
//!
//! usage: peers-tokio WORKLOAD WORKERS

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tokio::runtime::Builder;
use tokio::sync::mpsc;

const FIB_N: u64 = 30;
const FIB_ANSWER: u64 = 832040;
const SKYNET_LEAVES: u64 = 1_000_000;
const SKYNET_DIV: u64 = 10;
const SKYNET_ANSWER: u64 = 499_999_500_000;
const SPAWN_N: u64 = 1_000_000;
const SPAWN_ANSWER: u64 = 499_999_500_000;
const YIELD_SWITCHES: u64 = 10_000_000;
const CHAN_ROUNDS: u64 = 1_000_000;
const NQUEENS_N: usize = 12;
const NQUEENS_ANSWER: u64 = 14200;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// fib: spawn a task for fib(n-1), await fib(n-2) inline, join.
fn fib(n: u64) -> BoxFuture<u64> {
    Box::pin(async move {
        if n < 2 {
            return n;
        }
        let child = tokio::spawn(fib(n - 1));
        let b = fib(n - 2).await;
        child.await.unwrap() + b
    })
}

/// skynet: ten child tasks per node, joined in order.
fn skynet(num: u64, size: u64) -> BoxFuture<u64> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let sub = size / SKYNET_DIV;
        let children: Vec<_> = (0..SKYNET_DIV)
            .map(|i| tokio::spawn(skynet(num + i * sub, sub)))
            .collect();
        let mut sum = 0;
        for child in children {
            sum += child.await.unwrap();
        }
        sum
    })
}

/// spawn: a million trivial tasks spawned before the first join.
async fn spawn_all() -> u64 {
    let tasks: Vec<_> = (0..SPAWN_N).map(|i| tokio::spawn(async move { i })).collect();
    let mut sum = 0;
    for task in tasks {
        sum += task.await.unwrap();
    }
    sum
}

/// yield: two tasks on one thread handing it to each other.
async fn yield_pair() -> u64 {
    let yielder = || async {
        let mut n = 0;
        for _ in 0..YIELD_SWITCHES / 2 {
            tokio::task::yield_now().await;
            n += 1;
        }
        n
    };
    let a = tokio::spawn(yielder());
    let b = tokio::spawn(yielder());
    a.await.unwrap() + b.await.unwrap()
}

/// chan: ping-pong over two bounded mpsc channels of capacity 1.
async fn ping_pong() -> u64 {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let ponger = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let mut v = 0;
    for _ in 0..CHAN_ROUNDS {
        ping_tx.send(v).await.unwrap();
        v = pong_rx.recv().await.unwrap();
    }
    drop(ping_tx);
    ponger.await.unwrap();
    v
}

/// nqueens: a task per safe placement on each row, then join them all.
type Board = [i8; NQUEENS_N];

fn safe(b: &Board, row: usize, col: usize) -> bool {
    (0..row).all(|r| {
        let c = b[r] as isize;
        let (col, d) = (col as isize, (row - r) as isize);
        c != col && c - col != d && col - c != d
    })
}

fn nqueens(b: Board, row: usize) -> BoxFuture<u64> {
    Box::pin(async move {
        if row == NQUEENS_N {
            return 1;
        }
        let mut children = Vec::with_capacity(NQUEENS_N);
        for col in 0..NQUEENS_N {
            if safe(&b, row, col) {
                let mut child = b;
                child[row] = col as i8;
                children.push(tokio::spawn(nqueens(child, row + 1)));
            }
        }
        let mut sum = 0;
        for child in children {
            sum += child.await.unwrap();
        }
        sum
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workers: usize = match (args.len(), args.get(2).and_then(|w| w.parse().ok())) {
        (3, Some(w)) if w >= 1 => w,
        _ => {
            eprintln!("usage: peers-tokio fib|skynet|spawn|yield|chan|nqueens WORKERS");
            std::process::exit(2);
        }
    };
    let workload = args[1].clone();
    let (root, want): (BoxFuture<u64>, u64) = match workload.as_str() {
        "fib" => (fib(FIB_N), FIB_ANSWER),
        "skynet" => (skynet(0, SKYNET_LEAVES), SKYNET_ANSWER),
        "spawn" => (Box::pin(spawn_all()), SPAWN_ANSWER),
        "yield" => (Box::pin(yield_pair()), YIELD_SWITCHES),
        "chan" => (Box::pin(ping_pong()), CHAN_ROUNDS),
        "nqueens" => (nqueens([0; NQUEENS_N], 0), NQUEENS_ANSWER),
        _ => {
            eprintln!("unknown workload {}", workload);
            std::process::exit(2);
        }
    };
    // One worker: a current_thread runtime (the single-threaded scheduler
    // Tokio offers for this); more: the multi-thread work-stealing one.
    let single = workers == 1 && (workload == "yield" || workload == "chan");
    let rt = if single {
        Builder::new_current_thread().build()
    } else {
        Builder::new_multi_thread().worker_threads(workers).build()
    }
    .expect("runtime");

    let start = Instant::now();
    // The root runs as a task on the workers; block_on only waits for it.
    let got = rt.block_on(async move { tokio::spawn(root).await.unwrap() });
    let secs = start.elapsed().as_secs_f64();
    let ok = got == want;
    println!(
        "{{\"peer\":\"tokio\",\"workload\":\"{}\",\"workers\":{},\"seconds\":{:.6},\"ok\":{}}}",
        workload, workers, secs, ok
    );
    if !ok {
        eprintln!("tokio {}: got {}, want {}", workload, got, want);
        std::process::exit(1);
    }
}
