//! `#[history_function]`: turns an ordinary Rust function into the export of a Clio
//! `history-function` component. Use it through `clio_sdk::history_function`.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ExprLit, ItemFn, Lit, LitStr, MetaNameValue, Token};

mod collector;

/// Marks `fn(config: &mut Config, now: i64) -> Result<Vec<Sample>>` (or `&Config`) as the
/// plugin's collector. `Config` is any `serde::Deserialize` type: the instance's
/// `[collectors.config]` table is parsed into it once (an unknown or missing key is a
/// `bad-argument` error naming it, with `#[serde(deny_unknown_fields)]`), and each run calls
/// the function with it. Keep state between runs in `#[serde(skip)]` fields.
///
/// ```ignore
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config { url: String }
///
/// #[clio_sdk::collector(name = "hello")]
/// fn collect(c: &mut Config, now: i64) -> Result<Vec<Sample>> { ... }
/// ```
///
/// The macro keeps the function as written (so tests call it directly), and exports the
/// component's `name`, `configure` and `collect`. Use it once per crate.
#[proc_macro_attribute]
pub fn collector(attr: TokenStream, item: TokenStream) -> TokenStream {
    match collector::expand(attr.into(), item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks `fn name(h: &dyn History, args: &Args) -> Result<Option<Value>>` as the plugin's
/// history function.
///
/// ```ignore
/// #[clio_sdk::history_function(
///     name = "avg",
///     description = "Mean of the numeric values",
///     params = ["num: #N, a duration or a timestamp", "shift?: how far back the window ends"],
/// )]
/// fn avg(h: &dyn History, args: &Args) -> Result<Option<Value>> { ... }
/// ```
///
/// Each entry of `params` is `"name: description"`; a `?` after the name (`"shift?: ..."`)
/// marks it optional. The macro keeps the function as written (so tests call it directly),
/// adds `pub const DESCRIPTOR: clio_sdk::FunctionInfo`, and exports the component's
/// `describe` and `evaluate`. Use it once per crate.
#[proc_macro_attribute]
pub fn history_function(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// One parsed `params` entry.
struct Param {
    name: String,
    description: String,
    required: bool,
}

fn lit_str(e: &Expr) -> Option<&LitStr> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

fn parse_param(s: &LitStr) -> syn::Result<Param> {
    let text = s.value();
    let Some((name, description)) = text.split_once(':') else {
        return Err(syn::Error::new(
            s.span(),
            "a parameter is \"name: description\" (or \"name?: description\" when optional)",
        ));
    };
    let name = name.trim();
    let (name, required) = match name.strip_suffix('?') {
        Some(n) => (n.trim(), false),
        None => (name, true),
    };
    if name.is_empty() {
        return Err(syn::Error::new(s.span(), "the parameter name is empty"));
    }
    Ok(Param {
        name: name.to_owned(),
        description: description.trim().to_owned(),
        required,
    })
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    let mut name = None;
    let mut description = None;
    let mut params = Vec::new();
    for nv in &args {
        let key = nv
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "name" | "description" => {
                let s = lit_str(&nv.value)
                    .ok_or_else(|| syn::Error::new_spanned(&nv.value, "expected a string"))?;
                if key == "name" {
                    name = Some(s.value());
                } else {
                    description = Some(s.value());
                }
            }
            "params" => {
                let Expr::Array(ExprArray { elems, .. }) = &nv.value else {
                    return Err(syn::Error::new_spanned(
                        &nv.value,
                        "expected a list of strings: [\"num: ...\", \"shift?: ...\"]",
                    ));
                };
                for e in elems {
                    let s = lit_str(e)
                        .ok_or_else(|| syn::Error::new_spanned(e, "expected a string"))?;
                    params.push(parse_param(s)?);
                }
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    "unknown key; expected name, description or params",
                ));
            }
        }
    }
    let name =
        name.ok_or_else(|| syn::Error::new(Span::call_site(), "missing `name = \"...\"`"))?;
    let description = description.unwrap_or_default();
    let ident = &func.sig.ident;
    let param_tokens = params.iter().map(|p| {
        let (n, d, r) = (&p.name, &p.description, p.required);
        quote! { ::clio_sdk::ParamInfo { name: #n, description: #d, required: #r } }
    });
    Ok(quote! {
        #func

        /// This plugin's self-description (what `describe` returns).
        pub const DESCRIPTOR: ::clio_sdk::FunctionInfo = ::clio_sdk::FunctionInfo {
            name: #name,
            description: #description,
            version: ::core::env!("CARGO_PKG_VERSION"),
            params: &[#(#param_tokens),*],
        };

        #[doc(hidden)]
        #[derive(Debug)]
        pub struct __ClioHistoryFunction;

        impl ::clio_sdk::__private::Guest for __ClioHistoryFunction {
            fn describe() -> ::clio_sdk::__private::Descriptor {
                ::clio_sdk::__private::describe(&DESCRIPTOR)
            }

            fn evaluate(
                params: ::std::vec::Vec<::std::string::String>,
            ) -> ::core::result::Result<
                ::clio_sdk::bindings::clio::plugin::types::Value,
                ::clio_sdk::bindings::clio::plugin::types::Error,
            > {
                ::clio_sdk::__private::evaluate(#ident, params)
            }
        }

        ::clio_sdk::__export_history_function!(
            __ClioHistoryFunction with_types_in ::clio_sdk::bindings
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: &str) -> syn::Result<String> {
        let item = quote! { fn f(h: &dyn History, a: &Args) -> Result<Option<Value>> { Ok(None) } };
        expand(
            attr.parse()
                .map_err(|e| syn::Error::new(Span::call_site(), format!("{e}")))?,
            item,
        )
        .map(|t| t.to_string())
    }

    #[test]
    fn generates_descriptor_and_exports() {
        let out =
            expand_str(r#"name = "avg", description = "d", params = ["num: w", "shift?: s"]"#)
                .unwrap();
        assert!(out.contains("DESCRIPTOR"), "{out}");
        assert!(out.contains("__export_history_function"), "{out}");
        assert!(out.contains("required : true"), "{out}");
        assert!(out.contains("required : false"), "{out}");
        assert!(out.contains("\"shift\""), "{out}");
    }

    #[test]
    fn rejects_bad_attributes() {
        assert!(expand_str(r#"description = "d""#).is_err()); // no name
        assert!(expand_str(r#"name = "a", colour = "red""#).is_err());
        assert!(expand_str(r#"name = "a", params = ["no colon"]"#).is_err());
        assert!(expand_str(r#"name = "a", params = ["?: empty name"]"#).is_err());
        assert!(expand_str(r#"name = "a", params = "num: x""#).is_err());
        assert!(expand_str(r#"name = 5"#).is_err());
    }
}
