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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;

use super::org::{Integration, Org, OrgSettings, Record, Table, Value};
use super::schema::{self, FieldType, ObjectDef};

/// The `format` tag of version 1 of the dump format.
pub const FORMAT: &str = "sf-access-emulator-org/1";

/// The whole org as JSON (see the module header for the shape).
pub fn to_json(org: &Org) -> Json {
    serde_json::to_value(Dump(org)).expect("an org dump serializes to JSON")
}

/// The dump of an org as a `serde::Serialize` view, so `write_file` streams a large org to
/// disk without first building the whole JSON tree; `to_json` goes through the same code, so
/// both always agree.
struct Dump<'a>(&'a Org);

/// One table's rows, in ID order.
struct Rows<'a>(&'a Table);

/// One record, as field name -> Salesforce JSON value, in schema order.
struct Fields<'a>(&'a Table, &'a Record);

impl Serialize for Dump<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let org = self.0;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("format", FORMAT)?;
        map.serialize_entry("pod", &org.pod)?;
        map.serialize_entry("settings", &org.settings)?;
        map.serialize_entry("integration", &org.integration)?;
        map.serialize_key("objects")?;
        map.serialize_value(&Objects(org))?;
        map.end()
    }
}

/// Every table, in `schema::OBJECTS` order.
struct Objects<'a>(&'a Org);

impl Serialize for Objects<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tables = self.0.tables();
        let mut map = serializer.serialize_map(Some(tables.len()))?;
        for table in tables {
            map.serialize_entry(table.def.name, &Rows(table))?;
        }
        map.end()
    }
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.rows.values().map(|record| Fields(self.0, record)))
    }
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Fields(table, record) = self;
        serializer.collect_map(
            table
                .def
                .fields
                .iter()
                .zip(&record.values)
                .map(|(field, value)| (field.name, value.to_json())),
        )
    }
}

/// Loads an org from JSON written by `to_json` (or by hand). Missing fields are null (false
/// for booleans); missing objects are empty. The error names the path of the first problem.
pub fn from_json(json: &Json) -> Result<Org, String> {
    if !json.is_object() {
        return Err("the dump must be a JSON object".into());
    }
    Loaded::deserialize(json)
        .map_err(|e| e.to_string())?
        .into_org()
}

/// The `visit_*` methods for JSON scalars (booleans, numbers, strings, null), each failing
/// with `self.$error()`: serde's default message would not name the dump path.
macro_rules! reject_scalars {
    ($error:ident) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.$error())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.$error())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.$error())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.$error())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.$error())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(self.$error())
        }
    };
}

/// A dump read record by record: `from_json` runs it over a parsed tree and `read_file` over
/// the file's text, so a large file is never held as one JSON tree.
struct Loaded {
    format: Option<Json>,
    pod: Option<Json>,
    settings: Option<Json>,
    integration: Option<Json>,
    /// Per object (in `schema::OBJECTS` order), its records as value vectors.
    tables: Vec<Vec<Vec<Value>>>,
    /// The newest `SystemModstamp` / `LastModifiedDate` seen.
    max_stamp: Option<i64>,
}

impl Loaded {
    /// Checks the header and builds the org; record-level checks already ran while reading.
    fn into_org(self) -> Result<Org, String> {
        if self.format.is_none() {
            return Err(format!("format: missing, expected {FORMAT:?}"));
        }
        let pod = self
            .pod
            .as_ref()
            .and_then(Json::as_str)
            .ok_or("pod: missing or not a string")?;
        if pod.len() != 2 || !pod.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("pod: {pod:?} is not 2 letters or digits"));
        }
        let settings: OrgSettings = match self.settings {
            Some(value) => serde_json::from_value(value).map_err(|e| format!("settings: {e}"))?,
            None => OrgSettings::default(),
        };
        let integration: Integration =
            serde_json::from_value(self.integration.ok_or("integration: missing")?)
                .map_err(|e| format!("integration: {e}"))?;
        let mut org = Org::empty(settings, integration, pod);
        for (object, rows) in self.tables.into_iter().enumerate() {
            for values in rows {
                org.insert_values(object, values);
            }
        }
        org.reset_counters();
        if let Some(ms) = self.max_stamp {
            org.observe_stamp(ms);
        }
        Ok(org)
    }
}

impl<'de> Deserialize<'de> for Loaded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(LoadedVisitor)
    }
}

struct LoadedVisitor;

impl<'de> Visitor<'de> for LoadedVisitor {
    type Value = Loaded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the dump: a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loaded, A::Error> {
        let mut loaded = Loaded {
            format: None,
            pod: None,
            settings: None,
            integration: None,
            tables: vec![Vec::new(); schema::OBJECTS.len()],
            max_stamp: None,
        };
        let objects: Vec<ObjectLoader> =
            (0..schema::OBJECTS.len()).map(ObjectLoader::new).collect();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "format" => {
                    // Checked at once: a dump of another format fails on its tag, not on
                    // whatever record first differs.
                    let format: Json = map.next_value()?;
                    if format != FORMAT {
                        return Err(de::Error::custom(format!(
                            "format: unsupported format {format}, expected {FORMAT:?}"
                        )));
                    }
                    loaded.format = Some(format);
                }
                "pod" => loaded.pod = Some(map.next_value()?),
                "settings" => loaded.settings = Some(map.next_value()?),
                "integration" => loaded.integration = Some(map.next_value()?),
                "objects" => map.next_value_seed(ObjectsSeed {
                    objects: &objects,
                    loaded: &mut loaded,
                })?,
                other => return Err(de::Error::custom(format!("{other}: unknown key"))),
            }
        }
        Ok(loaded)
    }
}

/// What the loader needs to know about one object, computed once per load.
struct ObjectLoader {
    index: usize,
    def: &'static ObjectDef,
    /// Field name -> column.
    columns: HashMap<&'static str, usize>,
    /// Per column: the key prefixes a reference may carry (`None`: not checked).
    prefixes: Vec<Option<Vec<&'static str>>>,
    /// Columns whose date-times later writes must sort after.
    stamps: Vec<usize>,
}

impl ObjectLoader {
    fn new(index: usize) -> ObjectLoader {
        let def = &schema::OBJECTS[index];
        let prefixes = def
            .fields
            .iter()
            .map(|field| {
                // ContactId / AccountId point outside the emulated objects: not checked.
                let prefixes: Vec<&str> = field
                    .reference?
                    .to
                    .iter()
                    .filter_map(|name| schema::object(name))
                    .map(|o| o.key_prefix)
                    .collect();
                (!prefixes.is_empty()).then_some(prefixes)
            })
            .collect();
        ObjectLoader {
            index,
            def,
            columns: def
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name, i))
                .collect(),
            prefixes,
            stamps: ["SystemModstamp", "LastModifiedDate"]
                .iter()
                .filter_map(|name| def.field_index(name))
                .collect(),
        }
    }
}

/// `objects`: a map from object name to its array of records.
struct ObjectsSeed<'a> {
    objects: &'a [ObjectLoader],
    loaded: &'a mut Loaded,
}

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("objects: a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            let object = self
                .objects
                .iter()
                .find(|o| o.def.name == name.as_ref())
                .ok_or_else(|| de::Error::custom(format!("objects.{name}: unknown object")))?;
            let rows = map.next_value_seed(RowsSeed {
                object,
                max_stamp: &mut self.loaded.max_stamp,
            })?;
            self.loaded.tables[object.index] = rows;
        }
        Ok(())
    }

    reject_scalars!(not_an_object);

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_object())
    }
}

impl ObjectsSeed<'_> {
    fn not_an_object<E: de::Error>(&self) -> E {
        E::custom("objects: not a JSON object")
    }
}

/// One object's array of records.
struct RowsSeed<'a> {
    object: &'a ObjectLoader,
    max_stamp: &'a mut Option<i64>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "objects.{}: a JSON array", self.object.def.name)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let name = self.object.def.name;
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut ids = HashSet::new();
        while let Some(values) = seq.next_element_seed(RowSeed {
            object: self.object,
            path: format!("objects.{name}[{}]", rows.len()),
        })? {
            let path = || format!("objects.{name}[{}].Id", rows.len());
            let id = values[0]
                .as_id()
                .ok_or_else(|| de::Error::custom(format!("{}: missing", path())))?;
            if id.key_prefix() != self.object.def.key_prefix {
                return Err(de::Error::custom(format!(
                    "{}: {id} is not a {name} ID (those start with {})",
                    path(),
                    self.object.def.key_prefix
                )));
            }
            if !ids.insert(id) {
                return Err(de::Error::custom(format!("{}: {id} appears twice", path())));
            }
            for column in &self.object.stamps {
                if let Value::DateTime(ms) = values[*column] {
                    *self.max_stamp = (*self.max_stamp).max(Some(ms));
                }
            }
            rows.push(values);
        }
        Ok(rows)
    }

    reject_scalars!(not_an_array);

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_an_array())
    }
}

impl RowsSeed<'_> {
    fn not_an_array<E: de::Error>(&self) -> E {
        E::custom(format!(
            "objects.{}: not a JSON array",
            self.object.def.name
        ))
    }
}

/// One record: a map from field name to value.
struct RowSeed<'a> {
    object: &'a ObjectLoader,
    path: String,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: a JSON object", self.path)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let object = self.object;
        let mut values = Org::blank_values(object.index);
        while let Some(column) = map.next_key_seed(ColumnSeed(object))? {
            let path = &self.path;
            let column = column
                .map_err(|name| de::Error::custom(format!("{path}.{name}: unknown field")))?;
            let field = &object.def.fields[column];
            let name = field.name;
            let json: Json = map.next_value()?;
            let value = match Value::from_json(field.ty, &json) {
                // Booleans are never null in Salesforce; a null reads as false.
                Ok(Value::Null) if field.ty == FieldType::Boolean => Value::Bool(false),
                Ok(value) => value,
                Err(e) => return Err(de::Error::custom(format!("{path}.{name}: {e}"))),
            };
            if let (Some(prefixes), Value::Id(id)) = (&object.prefixes[column], &value)
                && !prefixes.contains(&id.key_prefix())
            {
                let targets = field
                    .reference
                    .map(|r| r.to.join(" or "))
                    .unwrap_or_default();
                return Err(de::Error::custom(format!(
                    "{path}.{name}: {id} is not an ID of {targets} (key prefix {})",
                    id.key_prefix()
                )));
            }
            values[column] = value;
        }
        Ok(values)
    }

    reject_scalars!(not_an_object);

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_an_object())
    }
}

/// A record's key, resolved to its column without allocating: `Err(name)` when unknown.
struct ColumnSeed<'a>(&'a ObjectLoader);

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = Result<usize, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnSeed<'_> {
    type Value = Result<usize, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .columns
            .get(name)
            .copied()
            .ok_or_else(|| name.to_string()))
    }
}

impl RowSeed<'_> {
    fn not_an_object<E: de::Error>(&self) -> E {
        E::custom(format!("{}: not a JSON object", self.path))
    }
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
        serde_json::to_writer_pretty(&mut out, &Dump(org))?;
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
    // Straight from the text, record by record (see `Loaded`); errors carry line and column.
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let loaded = Loaded::deserialize(&mut deserializer)
        .and_then(|loaded| deserializer.end().map(|()| loaded))
        .map_err(|e| {
            let problem = if e.is_syntax() || e.is_eof() {
                " is not valid JSON"
            } else {
                ""
            };
            format!("{}{problem}: {e}", path.display())
        })?;
    loaded
        .into_org()
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

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
        let e = load_error(|j| {
            j.as_object_mut().unwrap().remove("format");
        });
        assert!(e.starts_with("format: missing"), "{e}");
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
        // Streaming to disk gives exactly the pretty-printed `to_json`.
        let expected = serde_json::to_string_pretty(&to_json(&org)).unwrap() + "\n";
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
        let loaded = read_file(&path).unwrap();
        assert_eq!(to_json(&loaded), to_json(&org));
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "a temporary file was left behind");
        // Errors from a file name the file, the dump path and the line.
        let mut json = to_json(&org);
        user_row(&mut json, 2).insert("Foo".into(), Json::from(1));
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        let e = read_file(&path).err().unwrap();
        assert!(
            e.contains("org.json: objects.User[2].Foo: unknown field at line "),
            "{e}"
        );
        std::fs::write(&path, "{not json").unwrap();
        let e = read_file(&path).err().unwrap();
        assert!(e.contains("org.json is not valid JSON"), "{e}");
        let e = read_file(&dir.join("missing.json")).err().unwrap();
        assert!(e.starts_with("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
