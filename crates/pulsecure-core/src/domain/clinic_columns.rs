//! The columns a clinic's file holds for the published equations (and for a model whose
//! population excludes known CVD): their names, short labels and meanings. A leaf module:
//! intake, the equation models and the forms all read it.

/// Column saying whether the patient has known cardiovascular disease (0 or 1).
pub const KNOWN_CVD: &str = "known_cvd";
/// Column that may replace `egfr`: serum creatinine in mg/dL (eGFR by CKD-EPI 2021).
pub const SERUM_CREATININE: &str = "serum_creatinine";
/// The equation input holding the eGFR.
pub const EGFR: &str = "egfr";
/// The columns a clinic's file may hold for any published equation (issue 31: the PREVENT
/// inputs, `serum_creatinine` in place of `egfr`, and the PCE's `race`), besides `patient_id`
/// and [`KNOWN_CVD`]. A column the model's equation does not read is accepted and ignored, so
/// one file serves every equation (the PCE reads neither `statin` nor `egfr`; PREVENT does not
/// read `race`).
pub const CLINIC_COLUMNS: [&str; 12] = [
    "age",
    "sex",
    "race",
    "sbp",
    "bp_tx",
    "total_c",
    "hdl_c",
    "statin",
    "dm",
    "smoking",
    EGFR,
    SERUM_CREATININE,
];
/// A clinic column's short label for forms (`Systolic BP`); `None` for an unknown name.
pub fn clinic_column_label(name: &str) -> Option<&'static str> {
    Some(match name {
        "age" => "Age",
        "sex" => "Sex",
        "race" => "Race",
        "sbp" => "Systolic BP",
        "bp_tx" => "BP medication",
        "total_c" => "Total cholesterol",
        "hdl_c" => "HDL cholesterol",
        "statin" => "Statin",
        "dm" => "Diabetes",
        "smoking" => "Current smoker",
        EGFR => "eGFR",
        SERUM_CREATININE => "Serum creatinine",
        KNOWN_CVD => "Known CVD",
        _ => return None,
    })
}

/// What a clinic column means, in words (forms and help); `None` for an unknown name.
pub fn clinic_column_description(name: &str) -> Option<&'static str> {
    Some(match name {
        "age" => "Age in years",
        "sex" => "Sex (female or male): selects the sex-specific coefficients",
        "race" => "Race as the PCE were published (black, white; other uses the white equations)",
        "sbp" => "Systolic blood pressure",
        "bp_tx" => "Taking blood-pressure medication",
        "total_c" => "Total cholesterol",
        "hdl_c" => "HDL cholesterol",
        "statin" => "Taking a statin",
        "dm" => "Diabetes",
        "smoking" => "Current smoker",
        EGFR => "Estimated glomerular filtration rate (CKD-EPI 2021)",
        SERUM_CREATININE => "Serum creatinine (eGFR computed by race-free CKD-EPI 2021)",
        KNOWN_CVD => {
            "Known cardiovascular disease (CHD, angina, heart attack, stroke or heart failure): \
             no estimate, secondary prevention"
        }
        _ => return None,
    })
}
