//! The auth store's requests on users and roles, applied as etcd applies
//! them (etcd 3.4 and 3.5 `authStore`).
//!
//! Every change that succeeds writes the user or role (`authUsers`,
//! `authRoles`, keyed by name, `authpb.User` / `authpb.Role`) and moves
//! `authRevision` up by one; a request that fails (a missing user, a role
//! already there, the root user deleted while auth is on, ...) changes
//! nothing. Enabling auth does not move the revision, disabling it does.
//!
//! Passwords: etcd 3.5 hashes a password before it proposes the request
//! (`hashedPassword`, base64 of the bcrypt hash), which is stored as it
//! is. An etcd 3.4 request carries the password itself and the member
//! hashes it while it applies, with a random salt: the replay hashes it
//! the same way (bcrypt, cost 10, etcd's default), so the hash differs
//! from the one the dead member wrote while the password is the same.

use prost::Message;

/// `authpb.UserAddOptions`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct UserAddOptions {
    /// A user without a password (logs in by certificate only).
    #[prost(bool, tag = "1")]
    pub no_password: bool,
}

/// `authpb.User`, as stored.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthUser {
    /// Name.
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// bcrypt hash.
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    /// Roles, sorted.
    #[prost(string, repeated, tag = "3")]
    pub roles: Vec<String>,
    /// Options (absent on users made before etcd 3.4).
    #[prost(message, optional, tag = "4")]
    pub options: Option<UserAddOptions>,
}

/// `authpb.Permission`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Permission {
    /// READ 0, WRITE 1, READWRITE 2.
    #[prost(int32, tag = "1")]
    pub perm_type: i32,
    /// Key.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// Range end (empty: the key alone).
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// `authpb.Role`, as stored.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthRole {
    /// Name.
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// Permissions, sorted by key.
    #[prost(message, repeated, tag = "2")]
    pub key_permission: Vec<Permission>,
}

/// `AuthUserAddRequest` (1100).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct UserAdd {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Password (etcd 3.4; 3.5 sends the hash).
    #[prost(string, tag = "2")]
    pub password: String,
    /// Options.
    #[prost(message, optional, tag = "3")]
    pub options: Option<UserAddOptions>,
    /// base64 of the bcrypt hash (etcd 3.5).
    #[prost(string, tag = "4")]
    pub hashed_password: String,
}

/// `AuthUserChangePasswordRequest` (1103).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct UserChangePassword {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Password (etcd 3.4).
    #[prost(string, tag = "2")]
    pub password: String,
    /// base64 of the bcrypt hash (etcd 3.5).
    #[prost(string, tag = "3")]
    pub hashed_password: String,
}

/// A message of one or two strings: `AuthUserDeleteRequest` (1101, name),
/// `AuthUserGrantRoleRequest` (1104, user, role), `AuthUserRevokeRoleRequest`
/// (1105, name, role), `AuthRoleAddRequest` (1200, name),
/// `AuthRoleDeleteRequest` (1201, role).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Names {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub first: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub second: String,
}

/// `AuthRoleGrantPermissionRequest` (1203).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RoleGrantPermission {
    /// Role.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The permission.
    #[prost(message, optional, tag = "2")]
    pub perm: Option<Permission>,
}

/// `AuthRoleRevokePermissionRequest` (1204).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RoleRevokePermission {
    /// Role.
    #[prost(string, tag = "1")]
    pub role: String,
    /// Key.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// Range end.
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// An auth request that changes users or roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOp {
    /// Add a user.
    UserAdd(UserAdd),
    /// Delete a user.
    UserDelete(String),
    /// Change a user's password.
    UserChangePassword(UserChangePassword),
    /// Grant a role to a user: (user, role).
    UserGrantRole(String, String),
    /// Revoke a role from a user: (user, role).
    UserRevokeRole(String, String),
    /// Add a role.
    RoleAdd(String),
    /// Delete a role (and revoke it from every user).
    RoleDelete(String),
    /// Grant a permission to a role.
    RoleGrantPermission(RoleGrantPermission),
    /// Revoke a permission from a role.
    RoleRevokePermission(RoleRevokePermission),
}

impl AuthOp {
    /// Decodes the request of InternalRaftRequest field `field`; `None`
    /// for another field or bytes that do not decode.
    pub fn decode(field: u32, b: &[u8]) -> Option<AuthOp> {
        let names = || Names::decode(b).ok();
        Some(match field {
            1100 => AuthOp::UserAdd(UserAdd::decode(b).ok()?),
            1101 => AuthOp::UserDelete(names()?.first),
            1103 => AuthOp::UserChangePassword(UserChangePassword::decode(b).ok()?),
            1104 => {
                let n = names()?;
                AuthOp::UserGrantRole(n.first, n.second)
            }
            1105 => {
                let n = names()?;
                AuthOp::UserRevokeRole(n.first, n.second)
            }
            1200 => AuthOp::RoleAdd(names()?.first),
            1201 => AuthOp::RoleDelete(names()?.first),
            1203 => AuthOp::RoleGrantPermission(RoleGrantPermission::decode(b).ok()?),
            1204 => AuthOp::RoleRevokePermission(RoleRevokePermission::decode(b).ok()?),
            _ => return None,
        })
    }
}

/// The users and roles, as the replay changes them.
#[derive(Clone, Debug, Default)]
pub struct AuthState {
    /// Users by name.
    pub users: std::collections::BTreeMap<Vec<u8>, AuthUser>,
    /// Roles by name.
    pub roles: std::collections::BTreeMap<Vec<u8>, AuthRole>,
    /// etcd 3.4 rules: requests carry passwords, hashed on apply.
    pub v34: bool,
}

impl AuthState {
    /// The users and roles of `db` (entries that do not decode are left out,
    /// as etcd would fail on them).
    /// `v34`: the db is an etcd 3.4 one (no `term` in meta).
    pub fn read<D: AsRef<[u8]>>(
        db: &crate::store::EtcdDb<D>,
        v34: bool,
    ) -> crate::error::Result<AuthState> {
        use crate::meta::buckets::{AUTH_ROLES, AUTH_USERS};
        let mut s = AuthState {
            v34,
            ..AuthState::default()
        };
        let bolt = db.bolt();
        for name in [AUTH_USERS, AUTH_ROLES] {
            let b = match bolt.bucket(&[name]) {
                Ok(b) => b,
                Err(bbolt::Error::BucketNotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut c = b.cursor();
            let mut e = c.first()?;
            while let Some(x) = e {
                if name == AUTH_USERS {
                    if let Ok(u) = AuthUser::decode(x.value) {
                        s.users.insert(x.key.to_vec(), u);
                    }
                } else if let Ok(r) = AuthRole::decode(x.value) {
                    s.roles.insert(x.key.to_vec(), r);
                }
                e = c.next()?;
            }
        }
        Ok(s)
    }
}

/// The bcrypt cost etcd uses by default (`--bcrypt-cost`).
pub const BCRYPT_COST: u32 = 10;

/// `password` hashed as Go's bcrypt hashes it (`$2a$`, etcd's cost).
fn hash(password: &str) -> Option<Vec<u8>> {
    let h = bcrypt::hash_with_result(password, BCRYPT_COST).ok()?;
    Some(h.format_for_version(bcrypt::Version::TwoA).into_bytes())
}

/// What a password field turns into (etcd 3.5 `selectPassword`): the
/// hash a 3.5 member sent (base64) as it is, a password from an older
/// member hashed. `None`: etcd fails the request.
fn select_password(password: &str, hashed: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    if !password.is_empty() && hashed.is_empty() {
        return hash(password);
    }
    base64::engine::general_purpose::STANDARD
        .decode(hashed)
        .ok()
}

/// The outcome of one op: the users and roles to write (`None`: delete).
pub type Changes = Vec<(&'static [u8], Vec<u8>, Option<Vec<u8>>)>;

impl AuthState {
    /// Applies `op` by `user` (empty: no user); `enabled` is auth's
    /// switch. `None` when etcd refuses it (nothing changes, the revision
    /// stays); else the bucket writes to make.
    pub fn apply(&mut self, op: &AuthOp, enabled: bool) -> Option<Changes> {
        use crate::meta::buckets::{AUTH_ROLES, AUTH_USERS};
        let user_write = |u: &AuthUser| (AUTH_USERS, u.name.clone(), Some(u.encode_to_vec()));
        let role_write = |r: &AuthRole| (AUTH_ROLES, r.name.clone(), Some(r.encode_to_vec()));
        match op {
            AuthOp::UserAdd(r) => {
                if r.name.is_empty() || self.users.contains_key(r.name.as_bytes()) {
                    return None;
                }
                let options = r.options.unwrap_or_default();
                let password = if options.no_password {
                    Vec::new()
                } else if self.v34 {
                    // 3.4 hashes whatever it got, an empty password too.
                    hash(&r.password)?
                } else {
                    select_password(&r.password, &r.hashed_password)?
                };
                let u = AuthUser {
                    name: r.name.as_bytes().to_vec(),
                    password,
                    roles: Vec::new(),
                    options: Some(options),
                };
                let w = user_write(&u);
                self.users.insert(u.name.clone(), u);
                Some(vec![w])
            }
            AuthOp::UserDelete(name) => {
                if enabled && name == "root" {
                    return None;
                }
                self.users.remove(name.as_bytes())?;
                Some(vec![(AUTH_USERS, name.as_bytes().to_vec(), None)])
            }
            AuthOp::UserChangePassword(r) => {
                let v34 = self.v34;
                let u = self.users.get_mut(r.name.as_bytes())?;
                let no_password = u.options.is_some_and(|o| o.no_password);
                u.password = if v34 {
                    // 3.4 hashes the new password whatever the options say.
                    hash(&r.password)?
                } else if no_password {
                    Vec::new()
                } else {
                    select_password(&r.password, &r.hashed_password)?
                };
                Some(vec![user_write(u)])
            }
            AuthOp::UserGrantRole(user, role) => {
                if role != "root" && !self.roles.contains_key(role.as_bytes()) {
                    return None;
                }
                let u = self.users.get_mut(user.as_bytes())?;
                match u.roles.binary_search(role) {
                    // Already granted: etcd answers success and writes
                    // nothing, the revision included.
                    Ok(_) => Some(Vec::new()),
                    Err(i) => {
                        u.roles.insert(i, role.clone());
                        Some(vec![user_write(u)])
                    }
                }
            }
            AuthOp::UserRevokeRole(user, role) => {
                if enabled && user == "root" && role == "root" {
                    return None;
                }
                let u = self.users.get_mut(user.as_bytes())?;
                let before = u.roles.len();
                u.roles.retain(|r| r != role);
                if u.roles.len() == before {
                    return None;
                }
                Some(vec![user_write(u)])
            }
            AuthOp::RoleAdd(name) => {
                if name.is_empty() || self.roles.contains_key(name.as_bytes()) {
                    return None;
                }
                let r = AuthRole {
                    name: name.as_bytes().to_vec(),
                    key_permission: Vec::new(),
                };
                let w = role_write(&r);
                self.roles.insert(r.name.clone(), r);
                Some(vec![w])
            }
            AuthOp::RoleDelete(name) => {
                if enabled && name == "root" {
                    return None;
                }
                self.roles.remove(name.as_bytes())?;
                let mut out = vec![(AUTH_ROLES, name.as_bytes().to_vec(), None)];
                for u in self.users.values_mut() {
                    let before = u.roles.len();
                    u.roles.retain(|r| r != name);
                    if u.roles.len() != before {
                        out.push(user_write(u));
                    }
                }
                Some(out)
            }
            AuthOp::RoleGrantPermission(g) => {
                let p = g.perm.as_ref()?;
                let role = self.roles.get_mut(g.name.as_bytes())?;
                let perms = &mut role.key_permission;
                let i = perms.partition_point(|x| x.key < p.key);
                match perms.get_mut(i) {
                    Some(x) if x.key == p.key && x.range_end == p.range_end => {
                        x.perm_type = p.perm_type;
                    }
                    _ => {
                        perms.push(p.clone());
                        // Go's sort.Sort by key: not stable, but permissions
                        // with equal keys differ in range end and stay in
                        // the order etcd kept them in all but odd cases.
                        perms.sort_by(|a, b| a.key.cmp(&b.key));
                    }
                }
                Some(vec![role_write(role)])
            }
            AuthOp::RoleRevokePermission(r) => {
                let role = self.roles.get_mut(r.role.as_bytes())?;
                let before = role.key_permission.len();
                role.key_permission
                    .retain(|x| x.key != r.key || x.range_end != r.range_end);
                if role.key_permission.len() == before {
                    return None;
                }
                Some(vec![role_write(role)])
            }
        }
    }

    /// Whether `user` may read (`write` false) or write the key `key`
    /// (`range_end` empty) or the range `[key, range_end)` (`"\0"`: every
    /// key from `key` on), as etcd's auth store decides with auth on: a
    /// user that does not exist may not, one with the root role may, any
    /// other needs the permissions of its roles (READ, WRITE, READWRITE):
    /// one that holds the key, or, for a range, ones that together cover it
    /// without a gap.
    pub fn permitted(&self, user: &[u8], key: &[u8], range_end: &[u8], write: bool) -> bool {
        let Some(u) = self.users.get(user) else {
            return false;
        };
        if self.is_root(user) {
            return true;
        }
        // Each permission as an interval [begin, end); an empty bound is
        // past every key (etcd's "affine" byte order); a permission on one
        // key is [key, key + "\0").
        let mut held: Vec<(&[u8], Vec<u8>)> = Vec::new();
        for name in &u.roles {
            let Some(role) = self.roles.get(name.as_bytes()) else {
                continue;
            };
            for p in &role.key_permission {
                let kind_ok = match p.perm_type {
                    0 => !write,
                    1 => write,
                    2 => true,
                    _ => false,
                };
                if !kind_ok {
                    continue;
                }
                let end = match p.range_end.as_slice() {
                    [] => point_end(&p.key),
                    [0] => Vec::new(),
                    e => e.to_vec(),
                };
                held.push((p.key.as_slice(), end));
            }
        }
        if range_end.is_empty() {
            let end = point_end(key);
            return held.iter().any(|(b, e)| overlaps(key, &end, b, e));
        }
        let end: &[u8] = if range_end == [0] { &[] } else { range_end };
        let mut over: Vec<&(&[u8], Vec<u8>)> = held
            .iter()
            .filter(|(b, e)| overlaps(key, end, b, e))
            .collect();
        over.sort_by(|x, y| affine(x.0, y.0));
        let Some(((first_begin, first_end), rest)) = over.split_first().map(|(f, r)| (*f, r))
        else {
            return false;
        };
        let mut reach: &[u8] = first_end;
        for (b, e) in rest.iter().map(|x| (x.0, x.1.as_slice())) {
            if affine(reach, b).is_lt() {
                return false;
            }
            if affine(e, reach).is_gt() {
                reach = e;
            }
        }
        affine(reach, end).is_ge() && affine(first_begin, key).is_le()
    }

    /// Whether `user` exists and has the root role (what enabling auth,
    /// and any auth change while it is on, needs).
    pub fn is_root(&self, user: &[u8]) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.roles.binary_search_by(|r| r.as_str().cmp("root")).is_ok())
    }
}

/// etcd's byte order for interval bounds: an empty bound is past every key.
fn affine(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => a.cmp(b),
    }
}

/// The end of the one-key interval of `key`: `key + "\0"`.
fn point_end(key: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(key.len() + 1);
    e.extend_from_slice(key);
    e.push(0);
    e
}

/// Whether the query `[qb, qe)` meets the held interval `[nb, ne)`, as
/// etcd's interval tree decides it.
fn overlaps(qb: &[u8], qe: &[u8], nb: &[u8], ne: &[u8]) -> bool {
    let left = affine(qb, nb).is_lt() && affine(qe, nb).is_le();
    let right = affine(qb, ne).is_ge();
    !left && !right
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(name: &str) -> AuthOp {
        AuthOp::UserAdd(UserAdd {
            name: name.into(),
            hashed_password: "JDJhJDEwJGFiYw==".into(),
            ..Default::default()
        })
    }

    #[test]
    fn users_and_roles_follow_etcds_rules() {
        let mut s = AuthState::default();
        assert!(s.apply(&add("root"), false).is_some());
        assert!(s.apply(&add("root"), false).is_none(), "exists");
        assert_eq!(s.users[&b"root"[..]].password, b"$2a$10$abc");
        assert!(s
            .apply(&AuthOp::UserGrantRole("root".into(), "root".into()), false)
            .is_some());
        assert!(s.is_root(b"root"));
        // A role that does not exist cannot be granted.
        assert!(s
            .apply(&AuthOp::UserGrantRole("root".into(), "r".into()), false)
            .is_none());
        assert!(s.apply(&AuthOp::RoleAdd("r".into()), false).is_some());
        assert!(s
            .apply(&AuthOp::UserGrantRole("root".into(), "r".into()), false)
            .is_some());
        // Granted twice: success, nothing written.
        assert_eq!(
            s.apply(&AuthOp::UserGrantRole("root".into(), "r".into()), false),
            Some(vec![])
        );
        assert_eq!(s.users[&b"root"[..]].roles, ["r", "root"]);
        // Deleting a role revokes it from its users.
        let w = s.apply(&AuthOp::RoleDelete("r".into()), true).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(s.users[&b"root"[..]].roles, ["root"]);
        // With auth on, root stays.
        assert!(s.apply(&AuthOp::UserDelete("root".into()), true).is_none());
        assert!(s
            .apply(&AuthOp::UserRevokeRole("root".into(), "root".into()), true)
            .is_none());
        assert!(s.apply(&AuthOp::UserDelete("root".into()), false).is_some());
        assert!(s.users.is_empty());
    }

    #[test]
    fn key_permissions_are_checked_as_etcd_checks_them() {
        let mut s = AuthState::default();
        s.apply(&add("u"), false).unwrap();
        s.apply(&add("root"), false).unwrap();
        s.apply(&AuthOp::RoleAdd("root".into()), false).unwrap();
        s.apply(&AuthOp::UserGrantRole("root".into(), "root".into()), false)
            .unwrap();
        for r in ["r1", "r2"] {
            s.apply(&AuthOp::RoleAdd(r.into()), false).unwrap();
            s.apply(&AuthOp::UserGrantRole("u".into(), r.into()), false)
                .unwrap();
        }
        let grant = |s: &mut AuthState, r: &str, k: &[u8], e: &[u8], t: i32| {
            s.apply(
                &AuthOp::RoleGrantPermission(RoleGrantPermission {
                    name: r.into(),
                    perm: Some(Permission {
                        perm_type: t,
                        key: k.to_vec(),
                        range_end: e.to_vec(),
                    }),
                }),
                false,
            )
            .unwrap();
        };
        // r1: read [a, c), readwrite the key "k"; r2: write [c, e) and
        // [e, g), read from "x" on.
        grant(&mut s, "r1", b"a", b"c", 0);
        grant(&mut s, "r1", b"k", b"", 2);
        grant(&mut s, "r2", b"c", b"e", 1);
        grant(&mut s, "r2", b"e", b"g", 1);
        grant(&mut s, "r2", b"x", b"\0", 0);
        let p = |k: &[u8], e: &[u8], w: bool| s.permitted(b"u", k, e, w);
        // Keys.
        assert!(p(b"a", b"", false) && p(b"bzz", b"", false));
        assert!(!p(b"a", b"", true), "read only");
        assert!(!p(b"c", b"", false), "c is outside [a, c)");
        assert!(p(b"k", b"", true) && p(b"k", b"", false));
        assert!(!p(b"k0", b"", true), "a key permission holds that key only");
        assert!(p(b"zzz", b"", false) && !p(b"w", b"", false));
        // Ranges: inside one permission, across two that touch, with a
        // gap, past the end, and to the end of the key space.
        assert!(p(b"a", b"b", false) && p(b"a", b"c", false));
        assert!(!p(b"a", b"d", false));
        assert!(p(b"c", b"g", true), "[c, e) and [e, g) cover [c, g)");
        assert!(!p(b"c", b"h", true));
        assert!(!p(b"b", b"f", true), "b is not writable");
        assert!(p(b"x", b"\0", false) && p(b"y", b"z", false));
        assert!(!p(b"w", b"\0", false));
        assert!(!p(b"c", b"\0", true), "[c, g) ends");
        // Root may do anything; a user that does not exist, nothing.
        assert!(s.permitted(b"root", b"anything", b"\0", true));
        assert!(!s.permitted(b"nobody", b"a", b"", false));
    }

    #[test]
    fn permissions_are_kept_sorted_and_updated_in_place() {
        let mut s = AuthState::default();
        s.apply(&AuthOp::RoleAdd("r".into()), false).unwrap();
        let grant = |k: &str, e: &str, t: i32| {
            AuthOp::RoleGrantPermission(RoleGrantPermission {
                name: "r".into(),
                perm: Some(Permission {
                    perm_type: t,
                    key: k.as_bytes().to_vec(),
                    range_end: e.as_bytes().to_vec(),
                }),
            })
        };
        s.apply(&grant("b", "", 0), false).unwrap();
        s.apply(&grant("a", "c", 1), false).unwrap();
        s.apply(&grant("b", "", 2), false).unwrap();
        let p = &s.roles[&b"r"[..]].key_permission;
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].key.as_slice(), p[1].perm_type), (&b"a"[..], 2));
        let revoke = |k: &str, e: &str| {
            AuthOp::RoleRevokePermission(RoleRevokePermission {
                role: "r".into(),
                key: k.as_bytes().to_vec(),
                range_end: e.as_bytes().to_vec(),
            })
        };
        assert!(s.apply(&revoke("a", ""), false).is_none(), "not granted");
        assert!(s.apply(&revoke("a", "c"), false).is_some());
        assert_eq!(s.roles[&b"r"[..]].key_permission.len(), 1);
    }

    #[test]
    fn a_34_password_is_hashed_as_go_hashes_it() {
        let h = select_password("pw", "").unwrap();
        let h = String::from_utf8(h).unwrap();
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert!(bcrypt::verify("pw", &h).unwrap());
        // 3.4 hashes an empty password too, and a no-password user's new one.
        let mut s = AuthState {
            v34: true,
            ..AuthState::default()
        };
        let add = AuthOp::UserAdd(UserAdd {
            name: "u".into(),
            options: Some(UserAddOptions { no_password: true }),
            ..Default::default()
        });
        s.apply(&add, false).unwrap();
        assert!(s.users[&b"u"[..]].password.is_empty());
        let change = AuthOp::UserChangePassword(UserChangePassword {
            name: "u".into(),
            ..Default::default()
        });
        s.apply(&change, false).unwrap();
        let h = String::from_utf8(s.users[&b"u"[..]].password.clone()).unwrap();
        assert!(bcrypt::verify("", &h).unwrap());
        // 3.5 keeps a no-password user without one.
        s.v34 = false;
        s.apply(&change, false).unwrap();
        assert!(s.users[&b"u"[..]].password.is_empty());
    }
}
