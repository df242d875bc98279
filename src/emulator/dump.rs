//! Dumping an org to JSON and loading it back: the emulator's `--org-file` format.
//!
//! ```json
//! {"format": "sf-access-emulator-org/1", "pod": "5g", "settings": {...}, "integration": {...},
//!  "objects": {"Organization": [{"Id": "00D...", "Name": "...", ...}], "UserLicense": [...]}}
//! ```
//!
//! Objects come in `schema::OBJECTS` order, rows in ID order, fields in schema order, values in
//! Salesforce's JSON rendering, so the same org always gives the same bytes. Loading is strict
//! (unknown objects, fields and bad values are errors naming their path, e.g.
//! `objects.User[3].Foo: unknown field`) and never panics on bad input. This module does not
//! check references between records: a dump may describe any state an org can reach.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::org::{Integration, Org, OrgSettings, Value};
use super::schema::{self, FieldType};

/// The `format` tag of version 1 of the dump format.
pub const FORMAT: &str = "sf-access-emulator-org/1";

/// The whole org as JSON (see the module header for the shape).
pub fn to_json(org: &Org) -> Json {
    let mut objects = Map::new();
    for table in org.tables() {
        let rows: Vec<Json> = table
            .rows
            .values()
            .map(|record| {
                let fields: Map<String, Json> = table
                    .def
                    .fields
                    .iter()
                    .zip(&record.values)
                    .map(|(field, value)| (field.name.to_string(), value.to_json()))
                    .collect();
                Json::Object(fields)
            })
            .collect();
        objects.insert(table.def.name.to_string(), Json::Array(rows));
    }
    let mut out = Map::new();
    out.insert("format".into(), Json::from(FORMAT));
    out.insert("pod".into(), Json::from(org.pod.as_str()));
    out.insert(
        "settings".into(),
        serde_json::to_value(&org.settings).expect("OrgSettings serializes to JSON"),
    );
    out.insert(
        "integration".into(),
        serde_json::to_value(&org.integration).expect("Integration serializes to JSON"),
    );
    out.insert("objects".into(), Json::Object(objects));
    Json::Object(out)
}

/// Loads an org from JSON written by `to_json` (or by hand). Missing fields are null (false
/// for booleans); missing objects are empty. The error names the path of the first problem.
pub fn from_json(json: &Json) -> Result<Org, String> {
    let top = json.as_object().ok_or("the dump must be a JSON object")?;
    for key in top.keys() {
        if !["format", "pod", "settings", "integration", "objects"].contains(&key.as_str()) {
            return Err(format!("{key}: unknown key"));
        }
    }
    match top.get("format").and_then(Json::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "format: unsupported format {other:?}, expected {FORMAT:?}"
            ));
        }
        None => return Err(format!("format: missing, expected {FORMAT:?}")),
    }
    let pod = top
        .get("pod")
        .and_then(Json::as_str)
        .ok_or("pod: missing or not a string")?;
    if pod.len() != 2 || !pod.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("pod: {pod:?} is not 2 letters or digits"));
    }
    let settings: OrgSettings = match top.get("settings") {
        Some(value) => {
            serde_json::from_value(value.clone()).map_err(|e| format!("settings: {e}"))?
        }
        None => OrgSettings::default(),
    };
    let integration: Integration = serde_json::from_value(
        top.get("integration")
            .cloned()
            .ok_or("integration: missing")?,
    )
    .map_err(|e| format!("integration: {e}"))?;
    let objects = top
        .get("objects")
        .ok_or("objects: missing")?
        .as_object()
        .ok_or("objects: not a JSON object")?;

    let mut org = Org::empty(settings, integration, pod);
    let mut max_stamp = None;
    for (name, rows) in objects {
        let object = schema::OBJECTS
            .iter()
            .position(|o| o.name == name.as_str())
            .ok_or_else(|| format!("objects.{name}: unknown object"))?;
        let def = &schema::OBJECTS[object];
        let rows = rows
            .as_array()
            .ok_or_else(|| format!("objects.{name}: not a JSON array"))?;
        let mut ids = BTreeSet::new();
        for (i, row) in rows.iter().enumerate() {
            let path = format!("objects.{name}[{i}]");
            let fields = row
                .as_object()
                .ok_or_else(|| format!("{path}: not a JSON object"))?;
            let mut values = Org::blank_values(object);
            for (field_name, json) in fields {
                let index = def
                    .fields
                    .iter()
                    .position(|f| f.name == field_name.as_str())
                    .ok_or_else(|| format!("{path}.{field_name}: unknown field"))?;
                let field = &def.fields[index];
                let value = Value::from_json(field.ty, json)
                    .map_err(|e| format!("{path}.{field_name}: {e}"))?;
                values[index] = match (field.ty, value) {
                    // Booleans are never null in Salesforce; a null reads as false.
                    (FieldType::Boolean, Value::Null) => Value::Bool(false),
                    (_, value) => value,
                };
                check_reference(field, &values[index])
                    .map_err(|e| format!("{path}.{field_name}: {e}"))?;
                // Later writes must sort after every loaded change.
                if matches!(field.name, "SystemModstamp" | "LastModifiedDate")
                    && let Value::DateTime(ms) = values[index]
                {
                    max_stamp = max_stamp.max(Some(ms));
                }
            }
            let id = values[0]
                .as_id()
                .ok_or_else(|| format!("{path}.Id: missing"))?;
            if id.key_prefix() != def.key_prefix {
                return Err(format!(
                    "{path}.Id: {id} is not a {name} ID (those start with {})",
                    def.key_prefix
                ));
            }
            if !ids.insert(id) {
                return Err(format!("{path}.Id: {id} appears twice"));
            }
            org.insert_values(object, values);
        }
    }
    org.reset_counters();
    org.advance_counters_past_ids();
    if let Some(ms) = max_stamp {
        org.observe_stamp(ms);
    }
    Ok(org)
}

/// A reference must point at one of the field's target objects (by key prefix), when those
/// objects are emulated; `ContactId`/`AccountId` point outside the emulated set and pass.
fn check_reference(field: &schema::FieldDef, value: &Value) -> Result<(), String> {
    let (Some(reference), Value::Id(id)) = (field.reference, value) else {
        return Ok(());
    };
    let emulated: Vec<&str> = reference
        .to
        .iter()
        .filter_map(|name| schema::object(name))
        .map(|o| o.key_prefix)
        .collect();
    if emulated.is_empty() || emulated.contains(&id.key_prefix()) {
        return Ok(());
    }
    Err(format!(
        "{id} is not an ID of {} (key prefix {})",
        reference.to.join(" or "),
        id.key_prefix()
    ))
}

/// Writes the org as pretty JSON to `path`, through a temporary file in the same directory
/// renamed into place, so a reader never sees half a dump.
pub fn write_file(org: &Org, path: &Path) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        serde_json::to_writer_pretty(&mut out, &to_json(org))?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        // Best effort: the write already failed, a leftover temp file is the lesser problem.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Reads an org written by `write_file`. Errors name the file and the path inside it.
pub fn read_file(path: &Path) -> Result<Org, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::generate::{Preset, generate};
    use crate::salesforce::SfId;

    fn small() -> Org {
        generate(&Preset::Small.sizes(), 11)
    }

    /// The error of loading `small()`'s dump after `edit`.
    fn load_error(edit: impl FnOnce(&mut Json)) -> String {
        let mut json = to_json(&small());
        edit(&mut json);
        match from_json(&json) {
            Ok(_) => panic!("the edited dump loaded"),
            Err(e) => e,
        }
    }

    fn user_row(json: &mut Json, i: usize) -> &mut Map<String, Json> {
        json["objects"]["User"][i]
            .as_object_mut()
            .expect("users are objects")
    }

    #[test]
    fn dump_load_dump_is_identical() {
        let org = small();
        let first = serde_json::to_string_pretty(&to_json(&org)).unwrap();
        let loaded = from_json(&serde_json::from_str(&first).unwrap()).unwrap();
        let second = serde_json::to_string_pretty(&to_json(&loaded)).unwrap();
        assert_eq!(first, second);
        assert_eq!(loaded.settings, org.settings);
        assert_eq!(loaded.integration, org.integration);
        assert_eq!(loaded.pod, org.pod);
    }

    #[test]
    fn dump_lists_objects_rows_and_fields_in_schema_and_id_order() {
        let json = to_json(&small());
        assert_eq!(json["format"], FORMAT);
        let objects = json["objects"].as_object().unwrap();
        let names: Vec<&str> = objects.keys().map(String::as_str).collect();
        let expected: Vec<&str> = schema::OBJECTS.iter().map(|o| o.name).collect();
        assert_eq!(names, expected);
        let users = objects["User"].as_array().unwrap();
        let fields: Vec<&str> = users[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected: Vec<&str> = schema::object("User")
            .unwrap()
            .fields
            .iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(fields, expected);
        let ids: Vec<&str> = users.iter().map(|u| u["Id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        // Salesforce's date-time rendering.
        let created = users[0]["CreatedDate"].as_str().unwrap();
        assert!(created.ends_with(".000+0000"), "{created}");
    }

    #[test]
    fn loaded_org_allocates_unused_ids_and_later_stamps() {
        let mut org = small();
        // Deleting the first and the next-to-last records leaves a gap at `len + 1`: a counter
        // reset that starts there would hand out the last ID again.
        let members: Vec<SfId> = org
            .table("GroupMember")
            .unwrap()
            .rows
            .keys()
            .copied()
            .collect();
        org.delete_raw(&members[0]);
        org.delete_raw(&members[members.len() - 2]);
        let mut loaded = from_json(&to_json(&org)).unwrap();
        for _ in 0..members.len() {
            let id = loaded.new_id("GroupMember");
            assert!(loaded.get(&id).is_none(), "{id} reused");
        }
        let newest = loaded
            .tables()
            .iter()
            .flat_map(|t| {
                let stamp = t.def.field_index("SystemModstamp");
                t.rows
                    .values()
                    .filter_map(move |r| match stamp.map(|s| &r.values[s]) {
                        Some(Value::DateTime(ms)) => Some(*ms),
                        _ => None,
                    })
            })
            .max()
            .unwrap();
        assert!(loaded.next_stamp() > newest);
    }

    #[test]
    fn missing_fields_default_to_null_or_false() {
        let mut json = to_json(&small());
        let user = user_row(&mut json, 0);
        let id = user["Id"].clone();
        user.retain(|k, _| k == "Id" || k == "Username");
        json["objects"]
            .as_object_mut()
            .unwrap()
            .remove("OauthToken");
        let org = from_json(&json).unwrap();
        let id: SfId = id.as_str().unwrap().parse().unwrap();
        assert_eq!(org.value(&id, "IsActive"), Some(&Value::Bool(false)));
        assert_eq!(org.value(&id, "ProfileId"), Some(&Value::Null));
        assert!(org.table("OauthToken").unwrap().rows.is_empty());
    }

    #[test]
    fn loading_rejects_unknown_objects_and_fields_naming_their_path() {
        let e = load_error(|j| {
            j["objects"]
                .as_object_mut()
                .unwrap()
                .insert("Contact".into(), Json::Array(vec![]));
        });
        assert_eq!(e, "objects.Contact: unknown object");
        let e = load_error(|j| {
            user_row(j, 3).insert("Foo".into(), Json::from(1));
        });
        assert_eq!(e, "objects.User[3].Foo: unknown field");
        let e = load_error(|j| {
            j.as_object_mut()
                .unwrap()
                .insert("extra".into(), Json::Null);
        });
        assert_eq!(e, "extra: unknown key");
        let e = load_error(|j| {
            j["settings"]
                .as_object_mut()
                .unwrap()
                .insert("nope".into(), Json::Null);
        });
        assert!(e.starts_with("settings: unknown field `nope`"), "{e}");
    }

    #[test]
    fn loading_rejects_bad_values_naming_their_path() {
        let e = load_error(|j| user_row(j, 0)["IsActive"] = Json::from("yes"));
        assert!(e.starts_with("objects.User[0].IsActive: "), "{e}");
        let e = load_error(|j| user_row(j, 1)["CreatedDate"] = Json::from("yesterday"));
        assert!(e.starts_with("objects.User[1].CreatedDate: "), "{e}");
        let e = load_error(|j| user_row(j, 2)["ManagerId"] = Json::from("005xx000001Sv6eAAA"));
        assert!(
            e.starts_with("objects.User[2].ManagerId: invalid ID"),
            "{e}"
        );
        let e = load_error(|j| {
            let user = user_row(j, 0)["Id"].clone();
            user_row(j, 2)["ProfileId"] = user;
        });
        assert!(
            e.starts_with("objects.User[2].ProfileId: ") && e.contains("Profile"),
            "{e}"
        );
        let e = load_error(|j| {
            let first = user_row(j, 0)["Id"].clone();
            user_row(j, 1)["Id"] = first;
        });
        assert!(
            e.starts_with("objects.User[1].Id: ") && e.ends_with("appears twice"),
            "{e}"
        );
        let e = load_error(|j| {
            let profile = user_row(j, 0)["ProfileId"].clone();
            user_row(j, 0)["Id"] = profile;
        });
        assert!(e.contains("is not a User ID"), "{e}");
        let e = load_error(|j| {
            user_row(j, 4).remove("Id");
        });
        assert_eq!(e, "objects.User[4].Id: missing");
        let e = load_error(|j| j["objects"]["User"][5] = Json::from(5));
        assert_eq!(e, "objects.User[5]: not a JSON object");
        let e = load_error(|j| j["objects"]["User"] = Json::from("users"));
        assert_eq!(e, "objects.User: not a JSON array");
        let e = load_error(|j| j["format"] = Json::from("something/2"));
        assert!(e.starts_with("format: unsupported format"), "{e}");
        let e = load_error(|j| j["pod"] = Json::from("5g5"));
        assert!(e.starts_with("pod: "), "{e}");
        let e = load_error(|j| {
            j["integration"].as_object_mut().unwrap().remove("user_id");
        });
        assert!(e.starts_with("integration: "), "{e}");
        assert_eq!(
            from_json(&Json::from(3)).err().unwrap(),
            "the dump must be a JSON object"
        );
    }

    #[test]
    fn write_file_then_read_file_round_trips_without_leftovers() {
        let dir = std::env::temp_dir().join(format!("sf-access-dump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("org.json");
        let org = small();
        write_file(&org, &path).unwrap();
        let loaded = read_file(&path).unwrap();
        assert_eq!(to_json(&loaded), to_json(&org));
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "a temporary file was left behind");
        std::fs::write(&path, "{not json").unwrap();
        let e = read_file(&path).err().unwrap();
        assert!(e.contains("org.json is not valid JSON"), "{e}");
        let e = read_file(&dir.join("missing.json")).err().unwrap();
        assert!(e.starts_with("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
