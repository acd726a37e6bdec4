//! Which world and contract version a component implements, and the per-version glue the
//! host calls through: history functions of the current contract or of an older one
//! ([`crate::compat`]), and housekeeping policies.

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use crate::compat::{SUPPORTED_CONTRACTS, v0_1};
use crate::runtime::{HistoryFunction, HistoryFunctionPre, HostState, wit};

/// Bindings of the `housekeeping-policy` world (current contract).
pub(crate) mod policy_world {
    wasmtime::component::bindgen!({
        world: "housekeeping-policy",
        path: "../../wit",
        with: { "clio:plugin/types": crate::runtime::clio::plugin::types },
    });
}

pub(crate) use policy_world::exports::clio::plugin::policy as wp;
pub(crate) use policy_world::{HousekeepingPolicy, HousekeepingPolicyPre};

/// What a component is, from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A history function of the current contract.
    Function,
    /// A history function built against contract 0.1.0.
    FunctionV0_1,
    /// A housekeeping (retention) policy.
    Policy,
}

impl Kind {
    /// The world's name, as the API shows it.
    pub(crate) fn world(self) -> &'static str {
        match self {
            Kind::Function | Kind::FunctionV0_1 => "history-function",
            Kind::Policy => "housekeeping-policy",
        }
    }

    /// The contract version the component was built against.
    pub(crate) fn contract(self) -> &'static str {
        match self {
            Kind::Function | Kind::Policy => SUPPORTED_CONTRACTS[0],
            Kind::FunctionV0_1 => "0.1.0",
        }
    }
}

/// Recognises a component by the interface it exports; the error names what it exports
/// instead and what this host serves.
pub(crate) fn kind_of(engine: &Engine, component: &Component) -> Result<Kind, String> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let current = SUPPORTED_CONTRACTS[0];
    for n in &names {
        if *n == format!("clio:plugin/function@{current}") {
            return Ok(Kind::Function);
        }
        if n == "clio:plugin/function@0.1.0" {
            return Ok(Kind::FunctionV0_1);
        }
        if *n == format!("clio:plugin/policy@{current}") {
            return Ok(Kind::Policy);
        }
    }
    let found = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    Err(format!(
        "not a Clio plugin: it exports {found}; this host serves clio:plugin/function and \
         clio:plugin/policy of contract {} (and clio:plugin/function of {})",
        current,
        SUPPORTED_CONTRACTS[1..].join(", ")
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
