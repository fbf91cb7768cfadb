//! The dependency graph of a service set: ordering edges from labels and compose keys, and
//! cycle detection that names the cycle.

use indexmap::{IndexMap, IndexSet};

use crate::error::{Error, Result};

/// A checked, acyclic graph: for each service, the services it waits for.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    deps: IndexMap<String, IndexSet<String>>,
    order: Vec<String>,
}

impl Graph {
    /// Builds the graph from `(service, waits_for)` edges over `nodes`. Edges naming a service
    /// outside `nodes` are dropped: `after: network` must not fail when network is disabled.
    pub fn new<'a>(
        nodes: impl IntoIterator<Item = &'a str>,
        edges: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut deps: IndexMap<String, IndexSet<String>> = nodes
            .into_iter()
            .map(|n| (n.to_string(), IndexSet::new()))
            .collect();
        for (service, dep) in edges {
            if service == dep || !deps.contains_key(&dep) {
                if service != dep {
                    tracing::debug!(%service, dependency = %dep, "ordering edge to a service not in this set ignored");
                }
                continue;
            }
            if let Some(set) = deps.get_mut(&service) {
                set.insert(dep);
            }
        }
        let order = topo_order(&deps)?;
        Ok(Graph { deps, order })
    }

    /// The services `name` waits for.
    pub fn dependencies(&self, name: &str) -> impl Iterator<Item = &str> {
        self.deps
            .get(name)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// The services that wait for `name`.
    pub fn dependents<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.deps
            .iter()
            .filter(move |(_, d)| d.contains(name))
            .map(|(n, _)| n.as_str())
    }

    /// A topological order (dependencies first); stable with respect to insertion order.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Names of all nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.deps.keys().map(String::as_str)
    }
}

fn topo_order(deps: &IndexMap<String, IndexSet<String>>) -> Result<Vec<String>> {
    let mut remaining: IndexMap<&str, usize> =
        deps.iter().map(|(n, d)| (n.as_str(), d.len())).collect();
    let mut order = Vec::with_capacity(deps.len());
    loop {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            break;
        }
        for n in ready {
            remaining.shift_remove(n);
            order.push(n.to_string());
            for (m, d) in deps {
                if d.contains(n) {
                    if let Some(c) = remaining.get_mut(m.as_str()) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
        }
    }
    if remaining.is_empty() {
        return Ok(order);
    }
    Err(Error::Cycle {
        members: find_cycle(deps, &remaining.keys().copied().collect()),
    })
}

/// Walks dependency edges inside the unresolved set until a node repeats; every node left
/// after Kahn's algorithm has an unresolved dependency, so the walk always closes.
fn find_cycle(deps: &IndexMap<String, IndexSet<String>>, stuck: &IndexSet<&str>) -> Vec<String> {
    let Some(start) = stuck.first() else {
        return Vec::new();
    };
    let mut path: Vec<&str> = vec![start];
    let mut current = *start;
    for _ in 0..=stuck.len() {
        let next = deps
            .get(current)
            .and_then(|d| d.iter().find(|x| stuck.contains(x.as_str())));
        let Some(next) = next else { break };
        if let Some(pos) = path.iter().position(|p| *p == next.as_str()) {
            let mut cycle: Vec<String> = path.iter().skip(pos).map(|s| s.to_string()).collect();
            cycle.push(next.clone());
            return cycle;
        }
        path.push(next.as_str());
        current = next.as_str();
    }
    stuck.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn orders_dependencies_first() {
        let g = Graph::new(["c", "b", "a"], [e("c", "b"), e("b", "a")]).unwrap();
        assert_eq!(g.order(), ["a", "b", "c"]);
        assert_eq!(g.dependents("a").collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn names_the_cycle() {
        let err = Graph::new(
            ["x", "a", "b", "c"],
            [e("a", "b"), e("b", "c"), e("c", "a"), e("x", "a")],
        )
        .unwrap_err();
        let Error::Cycle { members } = &err else {
            panic!("{err}")
        };
        assert_eq!(members.len(), 4);
        assert_eq!(members.first(), members.last());
        for m in ["a", "b", "c"] {
            assert!(members.iter().any(|x| x == m), "{members:?}");
        }
        assert!(!members.iter().any(|x| x == "x"));
        assert!(err.to_string().starts_with("dependency cycle: "));
    }

    #[test]
    fn unknown_edges_are_dropped() {
        let g = Graph::new(["a"], [e("a", "network")]).unwrap();
        assert_eq!(g.dependencies("a").count(), 0);
    }
}
