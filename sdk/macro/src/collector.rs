//! `#[collector]`: turns `fn(&mut Config, Timestamp) -> Result<Vec<Sample>>` (or `&Config`)
//! into the export of a Clio `collector-plugin` component, the configuration parsed with
//! serde from the instance's `[collectors.config]` table.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, MetaNameValue, Token, Type};

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    let mut name = None;
    for a in &args {
        if !a.path.is_ident("name") {
            return Err(syn::Error::new_spanned(
                &a.path,
                "the only argument is `name`",
            ));
        }
        match &a.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) if !s.value().is_empty() => name = Some(s.clone()),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "`name` is a non-empty string: the plugin's name in `[[collectors]] plugin`",
                ));
            }
        }
    }
    let Some(name) = name else {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[collector] needs `name = \"...\"`",
        ));
    };
    let func: ItemFn = syn::parse2(item)?;
    let inputs: Vec<&FnArg> = func.sig.inputs.iter().collect();
    let shape_err = || {
        syn::Error::new_spanned(
            &func.sig,
            "a collector is `fn(config: &mut Config, now: i64) -> Result<Vec<Sample>>` \
             (or `&Config`), where Config implements serde::Deserialize",
        )
    };
    let [FnArg::Typed(cfg), FnArg::Typed(_now)] = inputs.as_slice() else {
        return Err(shape_err());
    };
    let Type::Reference(r) = &*cfg.ty else {
        return Err(shape_err());
    };
    let config_ty = &r.elem;
    let borrow = if r.mutability.is_some() {
        quote! { &mut self.0 }
    } else {
        quote! { &self.0 }
    };
    let fname = &func.sig.ident;
    Ok(quote! {
        #func

        #[doc(hidden)]
        #[derive(Debug)]
        pub struct __ClioCollector(#config_ty);

        impl ::clio_sdk::collector::Collector for __ClioCollector {
            fn name() -> &'static str {
                #name
            }

            fn configure(config_json: &str) -> ::clio_sdk::Result<Self> {
                ::clio_sdk::collector::parse_config::<#config_ty>(config_json).map(__ClioCollector)
            }

            fn collect(
                &mut self,
                now: ::clio_sdk::Timestamp,
            ) -> ::clio_sdk::Result<::std::vec::Vec<::clio_sdk::collector::Sample>> {
                #fname(#borrow, now)
            }
        }

        ::clio_sdk::export_collector!(__ClioCollector);
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn expand_str(attr: &str, item: &str) -> syn::Result<String> {
        expand(attr.parse().unwrap(), item.parse().unwrap()).map(|t| t.to_string())
    }

    #[test]
    fn generates_the_collector() {
        let out = expand_str(
            r#"name = "hello""#,
            "fn run(c: &mut Cfg, now: i64) -> Result<Vec<Sample>> { Ok(vec![]) }",
        )
        .unwrap();
        assert!(out.contains("parse_config :: < Cfg >"), "{out}");
        assert!(out.contains("run (& mut self . 0 , now)"), "{out}");
        assert!(out.contains("export_collector !"), "{out}");
        let shared = expand_str(
            r#"name = "hello""#,
            "fn run(c: &Cfg, now: i64) -> Result<Vec<Sample>> { Ok(vec![]) }",
        )
        .unwrap();
        assert!(shared.contains("run (& self . 0 , now)"), "{shared}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let f = "fn run(c: &Cfg, now: i64) -> Result<Vec<Sample>> { Ok(vec![]) }";
        assert!(expand_str("", f).is_err());
        assert!(expand_str(r#"name = """#, f).is_err());
        assert!(expand_str(r#"nam = "x""#, f).is_err());
        assert!(expand_str(r#"name = "x""#, "fn run(c: Cfg, now: i64) {}").is_err());
        assert!(expand_str(r#"name = "x""#, "fn run(c: &Cfg) {}").is_err());
    }
}
