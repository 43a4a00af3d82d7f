//! Accounts brought in from elsewhere (`authctl import-django`), written in batches.
//!
//! One batch is one transaction: per account its profile, its credentials (the address's
//! uniqueness) and its username alias, each conditioned on not existing yet, plus ONE update of
//! the roles catalog adding the batch's holders (and active administrators) and moving its
//! version on (so an administrator's change computed from the older catalog fails its
//! condition and decides again). The counts never drift from the accounts: both are written or
//! neither. An account whose address or username is already there (a rerun, a registration
//! that won a race) fails its condition: it is left untouched, reported
//! [`Imported::AlreadyPresent`], and the batch is written again without it.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::{NOT_EXISTS, Store, built, classify_transaction, keys, n};
use crate::error::StoreError;
use crate::retry::{self, Tries};
use authcore::domain::{Credentials, User, UsernameAlias};
use authcore::policy::roles::ADMIN;

/// Most accounts of one batch: 3 items each plus the catalog stay within a transaction's 100.
pub const IMPORT_BATCH: usize = 32;
const _: () = assert!(IMPORT_BATCH * 3 < 100);

/// One account to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub user: User,
    pub credentials: Credentials,
    pub alias: Option<UsernameAlias>,
}

impl NewAccount {
    fn items(&self) -> usize {
        2 + usize::from(self.alias.is_some())
    }
}

/// What became of one account of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Written,
    /// Its address or username was taken: nothing written.
    AlreadyPresent,
}

impl Store {
    /// Writes `accounts` (at most [`IMPORT_BATCH`], no two with the same address or username)
    /// and the catalog's counts of those written, in one transaction; one outcome per account,
    /// in order. The catalog must exist when an account holds a role (the import puts its
    /// roles first).
    pub async fn import_accounts(
        &self,
        accounts: &[NewAccount],
    ) -> Result<Vec<Imported>, StoreError> {
        if accounts.len() > IMPORT_BATCH {
            return Err(StoreError::Invalid(format!(
                "at most {IMPORT_BATCH} accounts per batch"
            )));
        }
        let mut outcome = vec![Imported::Written; accounts.len()];
        // Attempts lost to a conflicting transaction (a condition failure removes an account
        // and costs none: there are at most as many of those as accounts).
        let mut tries = Tries::new(retry::ADMIN);
        loop {
            let pending: Vec<usize> = (0..accounts.len())
                .filter(|i| outcome.get(*i) == Some(&Imported::Written))
                .collect();
            if pending.is_empty() {
                return Ok(outcome);
            }
            // Which item of the transaction belongs to which account.
            let mut owner = Vec::new();
            let mut request = self.client.transact_write_items();
            for &i in &pending {
                let Some(account) = accounts.get(i) else {
                    continue;
                };
                request = request
                    .transact_items(self.put(keys::user_item(&account.user)?, NOT_EXISTS)?)
                    .transact_items(
                        self.put(keys::credentials_item(&account.credentials)?, NOT_EXISTS)?,
                    );
                if let Some(alias) = &account.alias {
                    request =
                        request.transact_items(self.put(keys::username_item(alias)?, NOT_EXISTS)?);
                }
                owner.extend(std::iter::repeat_n(i, account.items()));
            }
            let held: Vec<&NewAccount> = pending.iter().filter_map(|i| accounts.get(*i)).collect();
            if let Some(update) = self.holders_update(&held)? {
                request = request.transact_items(update);
            }
            if !tries.next().await {
                return Err(StoreError::Conflict);
            }
            match request.send().await.map_err(classify_transaction) {
                Ok(_) => return Ok(outcome),
                Err(StoreError::ConditionFailed { failed }) => {
                    let mut moved = false;
                    for index in failed {
                        match owner.get(index) {
                            Some(&i) => {
                                if let Some(slot) = outcome.get_mut(i) {
                                    *slot = Imported::AlreadyPresent;
                                    moved = true;
                                }
                            }
                            None => {
                                return Err(StoreError::Invalid(
                                    "the roles catalog is missing: put the roles first".into(),
                                ));
                            }
                        }
                    }
                    if moved {
                        // Not a lost attempt: the batch shrank.
                        tries = Tries::new(retry::ADMIN);
                    }
                }
                Err(StoreError::Conflict) => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The catalog update adding the holders of `accounts`' roles (none when they hold none).
    fn holders_update(
        &self,
        accounts: &[&NewAccount],
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let mut holders: BTreeMap<&str, i64> = BTreeMap::new();
        let mut admins = 0;
        for account in accounts {
            let mut roles: Vec<&String> = account.user.roles.iter().collect();
            roles.sort();
            roles.dedup();
            for role in roles {
                *holders.entry(role.as_str()).or_default() += 1;
            }
            if account.user.active && account.user.roles.iter().any(|r| r == ADMIN) {
                admins += 1;
            }
        }
        if holders.is_empty() {
            return Ok(None);
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::catalog_key()))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#holders", "holders")
            .expression_attribute_names("#admins", "admins")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":admins", n(admins));
        let mut set = vec![
            "#version = #version + :one".to_owned(),
            "#admins = if_not_exists(#admins, :zero) + :admins".to_owned(),
        ];
        for (i, (role, count)) in holders.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#r{i}"), role)
                .expression_attribute_values(format!(":c{i}"), n(count));
            set.push(format!(
                "#holders.#r{i} = if_not_exists(#holders.#r{i}, :zero) + :c{i}"
            ));
        }
        let update = built(
            update
                .update_expression(format!("SET {}", set.join(", ")))
                .build(),
        )?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }
}
