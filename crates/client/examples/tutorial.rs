//! The Python tutorial's example, in Rust.
//!
//! ```text
//! cargo run --example tutorial                       # to tcp://localhost:5010
//! cargo run --example tutorial -- --endpoint tcp://127.0.0.1:5010
//! cargo run --example tutorial -- --import <task-id> # continue a foreign task
//! cargo run --example tutorial -- --spawn python3 child.py   # hand a subtask to a program,
//!                                                    # which gets the task id as its last argument
//! ```

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut endpoint = "tcp://localhost:5010".to_owned();
    let mut import = None;
    let mut spawn: Vec<String> = Vec::new();
    let mut curve: Option<(String, String)> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--endpoint" => {
                endpoint = args.get(i + 1).ok_or("--endpoint needs a value")?.clone();
                i += 1;
            }
            "--import" => {
                import = Some(args.get(i + 1).ok_or("--import needs a task id")?.clone());
                i += 1;
            }
            "--curve" => {
                let server = args.get(i + 1).ok_or("--curve needs SERVER_KEY KEY_FILE")?;
                let own = args.get(i + 2).ok_or("--curve needs SERVER_KEY KEY_FILE")?;
                curve = Some((server.clone(), own.clone()));
                i += 2;
            }
            "--spawn" => {
                spawn = args[i + 1..].to_vec();
                break;
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
        i += 1;
    }
    let mut config = distlog::Config::new(endpoint);
    if let Some((server, own)) = &curve {
        config = config.curve(server, std::path::Path::new(own))?;
    }
    let _guard = distlog::init(config)?;
    distlog::LogBridge::install(log::LevelFilter::Info)?;

    if let Some(id) = import {
        let _part = distlog::import_task(&id, "rust part")?
            .field("lang", "rust")
            .enter();
        log::info!("working in rust");
        return Ok(());
    }
    if !spawn.is_empty() {
        let job = distlog::task("rust request").field("lang", "rust").enter();
        let foreign = job.get_foreign_task();
        let status = Command::new(&spawn[0])
            .args(&spawn[1..])
            .arg(&foreign)
            .status()?;
        log::info!("child finished: {status}");
        return Ok(());
    }

    {
        let _job = distlog::task("toplevel").field("user", "leo").enter();
        println!("into task");
        log::info!("into task");
        {
            let mut job = distlog::to("subtask").field("arg", 42).enter();
            println!("into subtask");
            log::info!("into task");
            job.success("subtask done");
        }
    }
    println!("all done");
    log::info!("all done");
    Ok(())
}
