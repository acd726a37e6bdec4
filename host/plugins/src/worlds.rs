//! Which world and contract version a component implements, and the per-version glue the
//! host calls through: history functions of the current contract or of an older one
//! ([`crate::compat`]), and housekeeping policies.

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use crate::compat::{SUPPORTED_CONTRACTS, v0_1};
use crate::runtime::{HistoryFunction, HistoryFunctionPre, wit};
use crate::sandbox::HostState;

/// Bindings of the `housekeeping-policy` world (current contract).
pub(crate) mod policy_world {
    wasmtime::component::bindgen!({
        world: "housekeeping-policy",
        path: "../../wit",
        with: { "clio:plugin/types": crate::runtime::clio::plugin::types },
    });
}

/// Bindings of the `collector-plugin` world (current contract).
pub(crate) mod collector_world {
    wasmtime::component::bindgen!({
        world: "collector-plugin",
        path: "../../wit",
        with: { "clio:plugin/types": crate::runtime::clio::plugin::types },
    });
}

pub(crate) use collector_world::exports::clio::plugin::collector as collector_wit;
pub(crate) use collector_world::{CollectorPlugin, CollectorPluginPre};
pub(crate) use policy_world::exports::clio::plugin::policy as policy_wit;
pub(crate) use policy_world::{HousekeepingPolicy, HousekeepingPolicyPre};

/// What a component is, from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A history function of a 0.2.x contract, with the version it was built against. The
    /// current bindings serve every 0.2.x: wasmtime matches semver-compatible names both
    /// ways (a `history@0.2.0` import finds the `0.2.1` definition, the `function@0.2.1`
    /// lookup finds a `function@0.2.0` export), and 0.2.x versions only add.
    Function(&'static str),
    /// A history function built against contract 0.1.0.
    FunctionV0_1,
    /// A housekeeping (retention) policy of a 0.2.x contract, with its version.
    Policy(&'static str),
    /// A data collector of a 0.2.x contract, with its version.
    Collector(&'static str),
}

impl Kind {
    /// The world's name, as the API shows it.
    pub(crate) fn world(self) -> &'static str {
        match self {
            Kind::Function(_) | Kind::FunctionV0_1 => "history-function",
            Kind::Policy(_) => "housekeeping-policy",
            Kind::Collector(_) => "collector-plugin",
        }
    }

    /// The contract version the component was built against.
    pub(crate) fn contract(self) -> &'static str {
        match self {
            Kind::Function(v) | Kind::Policy(v) | Kind::Collector(v) => v,
            Kind::FunctionV0_1 => "0.1.0",
        }
    }
}

/// The supported 0.2.x version `version` names, if any.
fn contract_0_2(version: &str) -> Option<&'static str> {
    SUPPORTED_CONTRACTS
        .iter()
        .copied()
        .find(|c| *c == version && c.starts_with("0.2."))
}

/// Recognises a component by the interface it exports; the error names what it exports
/// instead and what this host serves.
pub(crate) fn kind_of(engine: &Engine, component: &Component) -> Result<Kind, String> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    for n in &names {
        if let Some(v) = n.strip_prefix("clio:plugin/function@") {
            if v == "0.1.0" {
                return Ok(Kind::FunctionV0_1);
            }
            if let Some(c) = contract_0_2(v) {
                return Ok(Kind::Function(c));
            }
        }
        if let Some(c) = n.strip_prefix("clio:plugin/policy@").and_then(contract_0_2) {
            return Ok(Kind::Policy(c));
        }
        if let Some(c) = n
            .strip_prefix("clio:plugin/collector@")
            .and_then(contract_0_2)
        {
            return Ok(Kind::Collector(c));
        }
    }
    let found = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    Err(format!(
        "not a Clio plugin: it exports {found}; this host serves clio:plugin/function of \
         contracts {} and clio:plugin/policy and clio:plugin/collector of the 0.2.x ones",
        SUPPORTED_CONTRACTS.join(", ")
    ))
}

/// A history function ready to instantiate, of whichever contract version it was built for.
pub(crate) enum FnPre {
    /// Current contract.
    Current(HistoryFunctionPre<HostState>),
    /// Contract 0.1.0.
    V0_1(v0_1::HistoryFunctionPre<HostState>),
}

impl FnPre {
    /// Checks the component's exports against its world.
    pub(crate) fn new(kind: Kind, pre: InstancePre<HostState>) -> wasmtime::Result<FnPre> {
        Ok(match kind {
            Kind::FunctionV0_1 => FnPre::V0_1(v0_1::HistoryFunctionPre::new(pre)?),
            _ => FnPre::Current(HistoryFunctionPre::new(pre)?),
        })
    }

    /// A new instance in `store`.
    pub(crate) fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<FnBindings> {
        Ok(match self {
            FnPre::Current(p) => FnBindings::Current(p.instantiate(store)?),
            FnPre::V0_1(p) => FnBindings::V0_1(p.instantiate(store)?),
        })
    }
}

/// An instantiated history function.
pub(crate) enum FnBindings {
    /// Current contract.
    Current(HistoryFunction),
    /// Contract 0.1.0.
    V0_1(v0_1::HistoryFunction),
}

/// `describe`'s answer, whatever the version.
pub(crate) struct Described {
    pub name: String,
    pub description: String,
    pub version: String,
    pub params: Vec<(String, String, bool)>,
}

impl FnBindings {
    /// Calls `describe`.
    pub(crate) fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<Described> {
        Ok(match self {
            FnBindings::Current(b) => {
                let d = b.clio_plugin_function().call_describe(store)?;
                Described {
                    name: d.name,
                    description: d.description,
                    version: d.version,
                    params: d
                        .params
                        .into_iter()
                        .map(|p| (p.name, p.description, p.required))
                        .collect(),
                }
            }
            FnBindings::V0_1(b) => {
                let d = b.clio_plugin_function().call_describe(store)?;
                Described {
                    name: d.name,
                    description: d.description,
                    version: d.version,
                    params: d
                        .params
                        .into_iter()
                        .map(|p| (p.name, p.description, p.required))
                        .collect(),
                }
            }
        })
    }

    /// Calls `evaluate`.
    pub(crate) fn evaluate(
        &self,
        store: &mut Store<HostState>,
        params: &[String],
    ) -> wasmtime::Result<Result<wit::Value, wit::Error>> {
        match self {
            FnBindings::Current(b) => b.clio_plugin_function().call_evaluate(store, params),
            FnBindings::V0_1(b) => b.clio_plugin_function().call_evaluate(store, params),
        }
    }
}
