//! The route tables people read agree with the code: the README's (method, path, whether a
//! Bearer token is needed) and docs/deploy.md's (method, path, function, authorizer or not)
//! list exactly `devserver::ROUTES`. A route added to the registry and not to a table (or the
//! other way round) fails here.

use std::collections::BTreeSet;
use std::path::Path;

use devserver::ROUTES;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of a Markdown table whose first cell opens with `` `METHOD /path ``: the method, the
/// path (without a query) and the row's cells.
fn route_rows(markdown: &str) -> Vec<(String, String, Vec<String>)> {
    markdown
        .lines()
        .filter_map(|line| {
            let cells: Vec<String> = line
                .strip_prefix("| `")?
                .split(" | ")
                .map(|c| c.trim().trim_end_matches('|').trim().to_owned())
                .collect();
            let (method, rest) = cells.first()?.split_once(' ')?;
            if !METHODS.contains(&method) {
                return None;
            }
            let path = rest.split(['`', '?']).next()?.to_owned();
            Some((method.to_owned(), path, cells))
        })
        .collect()
}

#[test]
fn the_readme_route_table_lists_every_route_and_its_protection() {
    let documented: BTreeSet<(String, String, bool)> = route_rows(&read("README.md"))
        .into_iter()
        .map(|(method, path, cells)| (method, path, cells[0].contains("(Bearer")))
        .collect();
    let served: BTreeSet<(String, String, bool)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.protected))
        .collect();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String, bool)>::new(),
        "README.md documents routes (method, path, Bearer) that devserver::ROUTES does not serve"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String, bool)>::new(),
        "devserver::ROUTES serves routes (method, path, Bearer) the README's table does not list"
    );
}

#[test]
fn the_deploy_guide_route_table_names_each_route_s_function_and_authorizer() {
    let documented: BTreeSet<(String, String, String, bool)> = route_rows(&read("docs/deploy.md"))
        .into_iter()
        .filter(|(_, _, cells)| cells.len() == 3)
        .map(|(method, path, cells)| {
            let protected = cells[2].starts_with("Lambda authorizer");
            (method, path, cells[1].clone(), protected)
        })
        .collect();
    let served: BTreeSet<(String, String, String, bool)> = ROUTES
        .iter()
        .map(|r| {
            let binary = r.function.binary().to_owned();
            (r.method.to_owned(), r.path.to_owned(), binary, r.protected)
        })
        .collect();
    assert_eq!(
        documented, served,
        "docs/deploy.md's route table (route | function | auth) must match devserver::ROUTES"
    );
}

#[test]
fn the_route_tables_are_read_at_all() {
    // A parser that found nothing would make the tests above pass vacuously for an empty
    // registry; the registry is not empty, and a table row of each file is seen.
    assert!(route_rows(&read("README.md")).len() >= ROUTES.len());
    assert_eq!(route_rows(&read("docs/deploy.md")).len(), ROUTES.len());
}
