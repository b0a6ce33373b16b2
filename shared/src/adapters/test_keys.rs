//! Key pairs for the verifiers' tests only, made for them (`openssl genpkey`) and used
//! nowhere else: tokens signed with them are never accepted outside these tests.

/// A P-256 private key, PKCS#8 DER in base64 (what `Es256Signer::new` takes).
pub const EC_PKCS8_BASE64: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpEU9hoTTcDbn/msf9KtRVGU+eSFm",
    "fVJwKffEHcyGO2qhRANCAATXSXW05BgtdysdL0l6BatGM2oQVfBBBF2DZEVpf7jMK70M0jQFwUWM",
    "kq8dgskF+Hj40gcc49uVhnMdRNA9Gb2x",
);
/// Its public point, base64url (a JWK's `x` and `y`).
pub const EC_X: &str = "10l1tOQYLXcrHS9JegWrRjNqEFXwQQRdg2RFaX-4zCs";
pub const EC_Y: &str = "vQzSNAXBRYySrx2CyQX4ePjSBxzj25WGcx1E0D0ZvbE";

/// An RSA-2048 private key, PKCS#1 DER in base64 (RS256, as Firebase signs).
pub const RSA_PKCS1_BASE64: &str = concat!(
    "MIIEpAIBAAKCAQEA9Rd9+jR2RcPwXKxkSacmY5Rf3AiTlbfOZUL8mka5Tlca43FV+EEyrfen8K2n",
    "ojIj/iUfhGxTycG54F8KM/1E2cYPe4iGx7ZMjmJg7TzKGKy7ZPpaWFhoedNEcLAgfLwoh/NxmcnZ",
    "Fbhi0JdkbQB1dArktH4bR8xgIjNhE0kvwVcqKfmUkVNSRGfkMcUfYvUAbbgi08yU//Td1cQVsOtH",
    "XxHCLeA2o8arT7MVMTCoHgTpokEBbuNtV9AUWuuHbTxtcMM9mm2SsQ8V15edxHyDyfXuG6pKYwFf",
    "Ay7e+L6gArX64m2/9/hvdBWZH9sr2XsfscgasDzdOwfojX5vaFIx5QIDAQABAoIBAAkdjc9DUFfL",
    "A3KxUn+++Ml9o5NEYJee3bOivWoQGDgoVLHU9AVwiIdzkJpkUKA5Ca4o25mtY4nIMjCjKd1VPan0",
    "0nwXdiqec0DDbdPwLbSjusq0/5NNr6fb4LqCznG2yzIdO4i+Lij/S3HzHRmeiZlehoy9xcF5Acu1",
    "cGMxfS/aJBTZwuEN9dhL8j52xXWP8GoYA+cQBKXIJkut1dalss0V8k+CGovBPC8PgN0ygrJy5PvF",
    "qKxiYSxzGFx8i40BXzk0qUuF78fjuTiBajbsTnf6SvG5XOf2pPOZjivGzgduz9srHVn/JbU7ecFL",
    "LAHhbJF89gBOlZlwcYTRk0BVWckCgYEA/++b/27PU2mAuT1boRn7sGee4nwDl1LvBjABj9EKlzp3",
    "Z2gd3DFazIhlnswldLr4yeCAKn7pewSMl/+mrVg/qcGk3ImFFDhRoIZm9q2EZN9zXZd5JPMrT2/H",
    "4zRXXojiUNdc11i1RdJDvY6VCKpVOE9vvS1wdS6a5PpJvtnjJC0CgYEA9ScwMRFkVb/FHmcgiIbo",
    "sGuNaD7L/Qeq1+mNUxRkmQ89lCNfzM+SkEwFtczG8ZoNIllrYlt2JCBZc4EtlZUymT6isBcw1jWI",
    "RsABoohkS4XkZp54HD/ZU1yA5vKEsciNJPxOtc74qnojAORv+aPiFmdg0N3Hwh+GoSA+Nq5kv5kC",
    "gYEA/pCz13O+YDcWRCnVk/4mLCZFEP1NDRz+hmcFhqjkIduTnJUg7j1hFQOuIC7qKps2joXwtVQa",
    "o7O4rA8rGEwoto7Xjkxyw9PozQQiMcYRY8wmEbdyVeBQ+egzJ7iOFoeMo+AyhjfDxjkIC+lgL4hM",
    "z3+josUpkETU6GBTLbPHi9kCgYEApEO65dX6ff5+TU3ancCP385hNO2G76eYkQ38VSO/+FMe9sjx",
    "IyIe2bMmzFdHIpIPpOl3q7MPKUvHxD5VVfpfqhEvH4Cah53dD1MOhWKQmY5AqYYbgwpBS7sa4CS2",
    "Rw3TjWnGL8pcEpa+J5XpdcOa9VoVpD5G4EsRgZtCNI+MEFkCgYBEq/hU7VcPHyBU5UuZFag0Rpv5",
    "lBmi6jyft+26/NM++sDCS0wHxif5MpgJGIyIBA4aE34hSOjruIxujaoViHfdKGJP5g6pj7w5kWFx",
    "ikDmWXgtzSk8xx2+0iAqrawhVbgUX2kaGmRnU6R5QmNserF6IRUAiOSumQwkEc1v1yMbfg==",
);

/// Its modulus, base64url (a JWK's `n`); the exponent is 65537 (`AQAB`).
pub const RSA_N: &str = concat!(
    "9Rd9-jR2RcPwXKxkSacmY5Rf3AiTlbfOZUL8mka5Tlca43FV-EEyrfen8K2nojIj_iUfhGxTycG5",
    "4F8KM_1E2cYPe4iGx7ZMjmJg7TzKGKy7ZPpaWFhoedNEcLAgfLwoh_NxmcnZFbhi0JdkbQB1dArk",
    "tH4bR8xgIjNhE0kvwVcqKfmUkVNSRGfkMcUfYvUAbbgi08yU__Td1cQVsOtHXxHCLeA2o8arT7MV",
    "MTCoHgTpokEBbuNtV9AUWuuHbTxtcMM9mm2SsQ8V15edxHyDyfXuG6pKYwFfAy7e-L6gArX64m2_",
    "9_hvdBWZH9sr2XsfscgasDzdOwfojX5vaFIx5Q",
);
pub const RSA_E: &str = "AQAB";
