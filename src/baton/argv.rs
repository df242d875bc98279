//! baton-salesforce's one-shot command lines, rewritten into sf-access subcommands.
//!
//! A baton connector has no subcommands: `baton-salesforce -f sync.c1z` syncs, and
//! `--grant-entitlement E --grant-principal P --grant-principal-type user`, `--revoke-grant G`
//! and `--invoke-action NAME --invoke-action-args JSON` run one operation (each also read from
//! its `BATON_*` variable). So that such a command line works unchanged, `main` passes the
//! arguments through `rewrite` before clap sees them:
//!
//! | baton-salesforce | sf-access |
//! |---|---|
//! | `--grant-entitlement E --grant-principal P [--grant-principal-type T]` | `grant --entitlement E --principal T:P` (T defaults to `user`) |
//! | `--revoke-grant G` | `revoke --grant G` |
//! | `--invoke-action N [--invoke-action-args JSON]` | `action N --args JSON` (default `{}`) |
//! | no subcommand and no operation flag | `sync` |
//!
//! Every other argument is kept, in order. A command line that already names a subcommand is
//! left alone. This module only moves words around; the subcommands validate everything.

use std::ffi::OsString;

/// The subcommand names: a command line holding one of them is already in sf-access form.
const SUBCOMMANDS: &[&str] = &[
    "check",
    "emulator",
    "export",
    "show",
    "serve",
    "grant",
    "revoke",
    "create-account",
    "actions",
    "action",
    "capabilities",
    "config",
    "sync",
    "demo",
    "help",
];

/// baton's one-shot operation flags and the variables they are also read from.
const OPERATION_FLAGS: &[(&str, &str)] = &[
    ("--grant-entitlement", "BATON_GRANT_ENTITLEMENT"),
    ("--grant-principal", "BATON_GRANT_PRINCIPAL"),
    ("--grant-principal-type", "BATON_GRANT_PRINCIPAL_TYPE"),
    ("--revoke-grant", "BATON_REVOKE_GRANT"),
    ("--invoke-action", "BATON_INVOKE_ACTION"),
    ("--invoke-action-args", "BATON_INVOKE_ACTION_ARGS"),
];

/// Rewrites a baton-salesforce command line (see the module docs). `env` reads environment
/// variables (empty values count as unset). Errors name the flag and the fix.
pub fn rewrite(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<OsString>, String> {
    let Some((program, rest)) = args.split_first() else {
        return Ok(args);
    };
    let words: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if words.iter().any(|w| SUBCOMMANDS.contains(&w.as_str())) {
        return Ok(args);
    }
    // Take the operation flags out (`--flag value` or `--flag=value`), keep the rest.
    let mut operation: Vec<(&str, String)> = Vec::new();
    let mut kept: Vec<OsString> = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let word = &words[i];
        let flag = OPERATION_FLAGS
            .iter()
            .map(|(f, _)| *f)
            .find(|f| word == f || word.starts_with(&format!("{f}=")));
        match flag {
            Some(flag) => {
                let value = match word.split_once('=') {
                    Some((_, value)) => value.to_string(),
                    None => {
                        i += 1;
                        words
                            .get(i)
                            .cloned()
                            .ok_or_else(|| format!("{flag} needs a value"))?
                    }
                };
                operation.push((flag, value));
            }
            None => kept.push(rest[i].clone()),
        }
        i += 1;
    }
    for (flag, variable) in OPERATION_FLAGS {
        if !operation.iter().any(|(f, _)| f == flag)
            && let Some(value) = env(variable).filter(|v| !v.is_empty())
        {
            operation.push((flag, value));
        }
    }
    let value = |flag: &str| {
        operation
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.clone())
    };
    let wants_help = words
        .iter()
        .any(|w| matches!(w.as_str(), "-h" | "--help" | "-V" | "--version"));
    let mut head: Vec<OsString> = vec![program.clone()];
    let operations = [
        value("--grant-entitlement").is_some(),
        value("--revoke-grant").is_some(),
        value("--invoke-action").is_some(),
    ];
    match operations {
        [false, false, false] => {
            if let Some((flag, _)) = operation.first() {
                return Err(format!(
                    "{flag} belongs to an operation: give --grant-entitlement, --revoke-grant or \
                     --invoke-action with it"
                ));
            }
            if rest.is_empty() || wants_help {
                return Ok(args);
            }
            // baton's default operation is a sync.
            head.push("sync".into());
        }
        [true, false, false] => {
            let entitlement = value("--grant-entitlement").unwrap_or_default();
            let principal = value("--grant-principal").ok_or(
                "--grant-entitlement needs --grant-principal (the user's or group's Salesforce ID)",
            )?;
            let principal = if principal.contains(':') {
                principal
            } else {
                let kind = value("--grant-principal-type").unwrap_or_else(|| "user".into());
                format!("{kind}:{principal}")
            };
            head.extend(["grant", "--entitlement"].map(OsString::from));
            head.push(entitlement.into());
            head.push("--principal".into());
            head.push(principal.into());
        }
        [false, true, false] => {
            head.extend(["revoke", "--grant"].map(OsString::from));
            head.push(value("--revoke-grant").unwrap_or_default().into());
        }
        [false, false, true] => {
            head.push("action".into());
            head.push(value("--invoke-action").unwrap_or_default().into());
            head.push("--args".into());
            head.push(
                value("--invoke-action-args")
                    .unwrap_or_else(|| "{}".into())
                    .into(),
            );
        }
        _ => {
            return Err(
                "give one operation at a time: --grant-entitlement, --revoke-grant or \
                 --invoke-action"
                    .into(),
            );
        }
    }
    head.extend(kept);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let args = std::iter::once("sf-access")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        rewrite(args, &lookup).map(|out| {
            out.into_iter()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn sf_access_command_lines_are_left_alone() {
        let args = ["grant", "--entitlement", "x", "--principal", "user:y"];
        assert_eq!(run(&args, &[]).unwrap(), args);
        assert_eq!(run(&["--help"], &[]).unwrap(), ["--help"]);
        assert!(run(&[], &[]).unwrap().is_empty());
        // A subcommand wins over baton's variables.
        assert_eq!(
            run(&["show", "resources"], &[("BATON_REVOKE_GRANT", "g")]).unwrap(),
            ["show", "resources"]
        );
    }

    #[test]
    fn no_operation_means_sync_as_in_baton() {
        assert_eq!(
            run(&["-f", "sync.c1z", "--sync-connected-apps"], &[]).unwrap(),
            ["sync", "-f", "sync.c1z", "--sync-connected-apps"]
        );
    }

    #[test]
    fn grant_flags_become_the_grant_subcommand() {
        assert_eq!(
            run(
                &[
                    "--grant-entitlement",
                    "permission:0PS5g000000000KGAQ:assigned",
                    "--grant-principal=0055g0000000004AAA",
                    "--grant-principal-type",
                    "user",
                    "-p",
                ],
                &[],
            )
            .unwrap(),
            [
                "grant",
                "--entitlement",
                "permission:0PS5g000000000KGAQ:assigned",
                "--principal",
                "user:0055g0000000004AAA",
                "-p"
            ]
        );
    }

    #[test]
    fn operations_come_from_baton_variables_too() {
        assert_eq!(
            run(&["-p"], &[("BATON_REVOKE_GRANT", "g:1")]).unwrap(),
            ["revoke", "--grant", "g:1", "-p"]
        );
        assert_eq!(
            run(&[], &[("BATON_INVOKE_ACTION", "freeze_user")]).unwrap(),
            ["action", "freeze_user", "--args", "{}"]
        );
        assert_eq!(
            run(
                &[
                    "--invoke-action",
                    "freeze_user",
                    "--invoke-action-args",
                    "{\"resource_id\":\"u\"}"
                ],
                &[]
            )
            .unwrap(),
            ["action", "freeze_user", "--args", "{\"resource_id\":\"u\"}"]
        );
    }

    #[test]
    fn incomplete_or_mixed_operations_name_the_fix() {
        let err = run(&["--grant-entitlement", "e"], &[]).unwrap_err();
        assert!(err.contains("--grant-principal"), "{err}");
        let err = run(&["--grant-principal", "p"], &[]).unwrap_err();
        assert!(err.contains("--grant-entitlement"), "{err}");
        let err = run(&["--revoke-grant", "g", "--invoke-action", "a"], &[]).unwrap_err();
        assert!(err.contains("one operation at a time"), "{err}");
        let err = run(&["--revoke-grant"], &[]).unwrap_err();
        assert!(err.contains("needs a value"), "{err}");
    }
}
