//! A tiny hand-built org for the store and export tests: three users (active, frozen,
//! inactive; one name that needs CSV quoting, one that looks like a formula), a role tree,
//! nested groups and a queue, permission sets, a PSG, a permission set license and a
//! connected app, with direct, indirect and mixed grants, an expiry and app token details.

use crate::model::*;
use crate::salesforce::SfId;

/// The records of the tiny org, unsorted on purpose (the store sorts).
pub(crate) struct TinyOrg {
    pub resource_types: Vec<ResourceType>,
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
}

pub(crate) fn sf(prefix: &str, n: u64) -> SfId {
    SfId::from_counter(prefix, "5g", n)
}

pub(crate) fn rid(type_id: ResourceTypeId, n: u64) -> ResourceId {
    let prefix = match type_id.key_prefixes() {
        Some(p) => p[0],
        None => "0H4",
    };
    ResourceId::new(type_id, sf(prefix, n)).expect("test ids use the type's prefix")
}

pub(crate) fn psl(n: u64) -> ResourceId {
    ResourceId::new(ResourceTypeId::License, sf("0PL", n)).expect("0PL is a license prefix")
}

pub(crate) fn ent(resource: ResourceId, slug: &str) -> EntitlementId {
    EntitlementId::new(resource, slug).expect("test slugs are defined")
}

fn time(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().expect("test timestamps are RFC 3339")
}

fn resource(
    id: ResourceId,
    name: &str,
    parent: Option<ResourceId>,
    details: ResourceDetails,
) -> Resource {
    Resource {
        id,
        resource_type: id.type_id(),
        display_name: name.to_owned(),
        parent_id: parent,
        description: None,
        details,
    }
}

#[allow(clippy::too_many_arguments)]
fn user(
    n: u64,
    name: &str,
    username: &str,
    detail: UserStatusDetail,
    role: Option<u64>,
    profile: u64,
) -> Resource {
    use ResourceTypeId as T;
    resource(
        rid(T::User, n),
        name,
        None,
        ResourceDetails::User(UserDetails {
            username: username.to_owned(),
            email: Some(username.to_owned()),
            first_name: name.split(' ').next().map(str::to_owned),
            last_name: name.rsplit(' ').next().map(str::to_owned),
            status: detail.status(),
            status_detail: detail,
            user_type: "Standard".to_owned(),
            license: Some(rid(T::License, 1)),
            profile: Some(rid(T::Profile, profile)),
            role: role.map(|r| rid(T::Role, r)),
            manager: (n != 1).then(|| rid(T::User, 1)),
            federation_id: (n == 1).then(|| "ada-sso".to_owned()),
            last_login: (n == 1).then(|| time("2024-05-01T08:30:00Z")),
            created: Some(time("2020-01-02T03:04:05Z")),
        }),
    )
}

/// The tiny org.
pub(crate) fn tiny_org() -> TinyOrg {
    use ResourceTypeId as T;
    let (ada, bob, carol) = (rid(T::User, 1), rid(T::User, 2), rid(T::User, 3));
    let (ceo, vp) = (rid(T::Role, 1), rid(T::Role, 2));
    let (admin, standard) = (rid(T::Profile, 1), rid(T::Profile, 2));
    let (sales, emea, queue) = (rid(T::Group, 1), rid(T::Group, 2), rid(T::Group, 3));
    let (sales_ops, reports) = (rid(T::Permission, 1), rid(T::Permission, 2));
    let bundle = rid(T::PermissionSetGroup, 1);
    let app = rid(T::ConnectedApplication, 1);
    let console = psl(1);

    let resources = vec![
        user(
            2,
            "=HYPERLINK(\"x\") Bob Smith",
            "bob@example.com",
            UserStatusDetail::Frozen,
            Some(2),
            2,
        ),
        user(
            1,
            "Ada Lovelace",
            "ada@example.com",
            UserStatusDetail::Active,
            Some(1),
            1,
        ),
        user(
            3,
            "Carol \"CJ\", Jones",
            "carol@example.com",
            UserStatusDetail::Inactive,
            None,
            2,
        ),
        resource(
            ceo,
            "CEO",
            None,
            ResourceDetails::Role(RoleDetails {
                developer_name: Some("CEO".into()),
            }),
        ),
        resource(
            vp,
            "VP Sales",
            Some(ceo),
            ResourceDetails::Role(RoleDetails {
                developer_name: Some("VP_Sales".into()),
            }),
        ),
        resource(
            admin,
            "System Administrator",
            None,
            ResourceDetails::Profile(ProfileDetails {
                license: Some(rid(T::License, 1)),
            }),
        ),
        resource(
            standard,
            "Standard User",
            None,
            ResourceDetails::Profile(ProfileDetails {
                license: Some(rid(T::License, 1)),
            }),
        ),
        resource(
            sales,
            "Sales",
            None,
            ResourceDetails::Group(GroupDetails {
                group_type: GroupType::Regular,
                developer_name: Some("Sales".into()),
            }),
        ),
        resource(
            emea,
            "Sales EMEA",
            None,
            ResourceDetails::Group(GroupDetails {
                group_type: GroupType::Regular,
                developer_name: None,
            }),
        ),
        resource(
            queue,
            "Support Queue",
            None,
            ResourceDetails::Group(GroupDetails {
                group_type: GroupType::Queue,
                developer_name: None,
            }),
        ),
        resource(
            sales_ops,
            "Sales Ops",
            None,
            ResourceDetails::Permission(PermissionSetDetails {
                name: "Sales_Ops".into(),
                label: "Sales Ops".into(),
                set_type: Some("Regular".into()),
                license: None,
                namespace: None,
            }),
        ),
        resource(
            reports,
            "Reports",
            None,
            ResourceDetails::Permission(PermissionSetDetails {
                name: "Reports".into(),
                label: "Reports".into(),
                set_type: Some("Regular".into()),
                license: Some(console),
                namespace: Some("acme".into()),
            }),
        ),
        resource(
            bundle,
            "Sales Bundle",
            None,
            ResourceDetails::PermissionSetGroup(PermissionSetGroupDetails {
                name: "Sales_Bundle".into(),
                status: "Updated".into(),
            }),
        ),
        resource(
            app,
            "Data Loader",
            None,
            ResourceDetails::ConnectedApplication(ConnectedAppDetails {
                admin_approved_users_only: Some(true),
                created: Some(time("2021-06-07T00:00:00Z")),
            }),
        ),
        resource(
            rid(T::License, 1),
            "Salesforce",
            None,
            ResourceDetails::License(LicenseDetails {
                kind: LicenseKind::UserLicense,
                key: Some("SFDC".into()),
                status: Some("Active".into()),
                total_seats: Some(10),
                used_seats: Some(3),
            }),
        ),
        resource(
            console,
            "Sales Console",
            None,
            ResourceDetails::License(LicenseDetails {
                kind: LicenseKind::PermissionSetLicense,
                key: Some("SalesConsoleUser".into()),
                status: Some("Active".into()),
                total_seats: Some(5),
                used_seats: Some(1),
            }),
        ),
    ];
    let display = |id: ResourceId| {
        resources
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.display_name.clone())
            .expect("resource exists")
    };
    let mut entitlements = Vec::new();
    for (resource, slug) in [
        (ceo, "assigned"),
        (vp, "assigned"),
        (admin, "assigned"),
        (standard, "assigned"),
        (sales, "member"),
        (emea, "member"),
        (queue, "member"),
        (sales_ops, "assigned"),
        (reports, "assigned"),
        (bundle, "member"),
        (app, "access"),
        (app, "authorized"),
        (console, "assigned"),
    ] {
        entitlements.push(Entitlement::standard(
            ent(resource, slug),
            &display(resource),
        ));
    }
    entitlements.reverse();

    let with_record = |mut g: Grant, prefix: &str, n: u64| {
        g.details.record_id = Some(sf(prefix, n));
        g
    };
    let mut grants = vec![
        Grant::direct(ent(ceo, "assigned"), ada),
        Grant::direct(ent(vp, "assigned"), bob),
        Grant::direct(ent(admin, "assigned"), ada),
        Grant::direct(ent(standard, "assigned"), bob),
        Grant::direct(ent(standard, "assigned"), carol),
        with_record(Grant::direct(ent(emea, "member"), bob), "011", 1),
        with_record(Grant::direct(ent(queue, "member"), carol), "011", 2),
        with_record(Grant::direct(ent(bundle, "member"), ada), "0Pa", 1),
        with_record(Grant::direct(ent(console, "assigned"), ada), "2LA", 1),
        with_record(Grant::direct(ent(app, "access"), admin), "0J0", 1),
    ];
    let mut sales_ops_grant =
        with_record(Grant::direct(ent(sales_ops, "assigned"), carol), "0Pa", 2);
    sales_ops_grant.expires_at = Some(time("2030-12-31T00:00:00Z"));
    grants.push(sales_ops_grant);
    let mut authorized = with_record(Grant::direct(ent(app, "authorized"), ada), "0CQ", 1);
    authorized.details.last_used = Some(time("2024-04-30T12:00:00Z"));
    authorized.details.use_count = Some(42);
    grants.push(authorized);
    // Bob is in Sales through Sales EMEA and through the CEO's role-and-subordinates group.
    let mut bob_sales = Grant::through(
        ent(sales, "member"),
        bob,
        GrantSource {
            entitlement_id: ent(emea, "member"),
            kind: SourceKind::Group,
        },
    );
    bob_sales.add_source(GrantSource {
        entitlement_id: ent(ceo, "assigned"),
        kind: SourceKind::RoleAndSubordinates,
    });
    grants.push(bob_sales);
    grants.push(Grant::through(
        ent(sales, "member"),
        ada,
        GrantSource {
            entitlement_id: ent(ceo, "assigned"),
            kind: SourceKind::RoleAndSubordinates,
        },
    ));
    // Ada holds Reports directly and through the Sales Bundle PSG.
    let mut ada_reports = with_record(Grant::direct(ent(reports, "assigned"), ada), "0Pa", 3);
    ada_reports.add_source(GrantSource {
        entitlement_id: ent(bundle, "member"),
        kind: SourceKind::PermissionSetGroup,
    });
    grants.push(ada_reports);
    grants.reverse();

    TinyOrg {
        resource_types: ResourceType::all(),
        resources,
        entitlements,
        grants,
    }
}

/// Writes the tiny org as one successful run.
pub(crate) fn write_tiny_org(store: &crate::store::Store) -> crate::store::RunId {
    let org = tiny_org();
    let mut writer = store
        .begin_run(&serde_json::json!({"sync_connected_apps": true}))
        .expect("begin");
    writer
        .put_resource_types(&org.resource_types)
        .expect("types");
    writer.put_resources(&org.resources).expect("resources");
    writer
        .put_entitlements(&org.entitlements)
        .expect("entitlements");
    writer.put_grants(&org.grants).expect("grants");
    writer
        .finish(crate::store::RunSummary::default())
        .expect("finish")
}
