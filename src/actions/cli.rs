//! `sf-access actions` (list the actions and their schemas) and `sf-access action NAME --args
//! JSON` (run one): argument plumbing around `actions::{ACTIONS, run}`.
//!
//! The arguments are read and checked against the action's schema before any setting is
//! resolved, so a bad argument never needs credentials and never reaches Salesforce.

use std::io::{Read as _, Write as _};

use clap::Args;
use serde_json::Value;

use super::{ACTIONS, ActionError, find};
use crate::exit::{Exit, Failure};
use crate::provision::cli::{WriteArgs, to_json_text};

/// Arguments are read from standard input up to this size.
const MAX_ARGS_BYTES: u64 = 1 << 20;

/// `sf-access actions`.
#[derive(Debug, Clone, Args)]
pub struct ActionsArgs {
    /// Print the actions with their argument and result schemas as one JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `sf-access action`.
#[derive(Debug, Clone, Args)]
pub struct ActionArgs {
    /// The action (`sf-access actions` lists them).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The arguments, a JSON object, e.g. '{"resource_id":"user:005...","is_active":false}';
    /// `-` reads them from standard input.
    #[arg(long, value_name = "JSON|-")]
    pub args: String,
    #[command(flatten)]
    pub write: WriteArgs,
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The text listing of the actions: name, description, arguments.
pub fn list_text() -> String {
    let mut out = String::new();
    for action in ACTIONS {
        out.push_str(&format!("{}: {}\n", action.name, action.description));
        let schema = action.args_schema();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                out.push_str(&format!(
                    "  {name} ({}{}): {}\n",
                    property["type"].as_str().unwrap_or("any"),
                    if required.contains(&name.as_str()) {
                        ", required"
                    } else {
                        ""
                    },
                    property["description"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out.push_str("\n`sf-access actions --json` prints the argument and result schemas.\n");
    out
}

/// `sf-access actions`: needs no credentials.
pub fn run_list(args: &ActionsArgs) -> Result<Exit, Failure> {
    if args.json {
        let all: Vec<Value> = ACTIONS.iter().map(|a| a.to_json()).collect();
        print(&to_json_text(&all)?)?;
    } else {
        print(&list_text())?;
    }
    Ok(Exit::Ok)
}

/// Reads `--args`: the JSON text itself, or `-` for standard input.
fn read_args(name: &'static str, text: &str) -> Result<Value, ActionError> {
    let invalid = |message: String| ActionError::InvalidArgs {
        action: name,
        errors: vec![message],
    };
    let text = if text == "-" {
        let mut buffer = String::new();
        std::io::stdin()
            .take(MAX_ARGS_BYTES)
            .read_to_string(&mut buffer)
            .map_err(|e| {
                invalid(format!(
                    "cannot read the arguments from standard input: {e}"
                ))
            })?;
        buffer
    } else {
        text.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "--args is not JSON (line {} column {}); give an object such as '{{\"resource_id\":\"user:005...\"}}'",
            e.line(),
            e.column()
        ))
    })
}

/// `sf-access action NAME --args JSON`: prints the action report (its `result` follows the
/// action's result schema) as JSON.
pub async fn run(args: ActionArgs) -> Result<Exit, Failure> {
    let spec = find(&args.name)?;
    let action_args = read_args(spec.name, &args.args)?;
    spec.validate_args(&action_args)?;
    let (provisioner, options) = args.write.setup()?;
    let report = super::run(&provisioner, spec.name, &action_args, &options).await?;
    print(&to_json_text(&report)?)?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_names_every_action_and_its_arguments() {
        let text = list_text();
        for action in ACTIONS {
            assert!(text.contains(&format!("{}: ", action.name)), "{text}");
        }
        assert!(text.contains("  is_active (boolean, required): "), "{text}");
    }

    #[test]
    fn arguments_that_are_not_json_are_refused() {
        let err = read_args("freeze_user", "{resource_id: x}").unwrap_err();
        assert!(err.to_string().contains("--args is not JSON"), "{err}");
    }
}
