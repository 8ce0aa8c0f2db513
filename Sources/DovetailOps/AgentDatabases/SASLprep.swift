import Foundation

/// SASLprep (RFC 4013, a profile of stringprep, RFC 3454) as PostgreSQL applies it to a password before
/// hashing it for SCRAM (`pg_saslprep` in `src/common/saslprep.c`), so a verifier computed here matches the
/// one the server would have computed from the plaintext, and every client that logs in with the plaintext
/// (libpq normalises the same way) keeps working.
///
/// Like PostgreSQL: a pure-ASCII password is used as it is; otherwise map (non-ASCII spaces to a space,
/// "commonly mapped to nothing" characters removed), normalise to NFKC, and if the result holds a prohibited
/// or (in Unicode 3.2) unassigned character, or fails the bidirectional check, use the raw UTF-8 bytes instead.
///
/// One approximation: the bidirectional check's "LCat" table (RFC 3454 D.2, some 360 ranges) is read as
/// "a letter or spacing mark that is not RandALCat". It only matters for a password that starts and ends with
/// a right-to-left character; the RandALCat table (D.1) itself is exact.
enum SASLprep {
    /// The bytes PostgreSQL hashes for `password`.
    static func prepare(_ password: String) -> [UInt8] {
        if password.utf8.allSatisfy({ $0 < 0x80 }) { return Array(password.utf8) }
        return normalized(password).map { Array($0.utf8) } ?? Array(password.utf8)
    }

    /// The SASLprep form of `password`, or nil where PostgreSQL falls back to the raw bytes.
    static func normalized(_ password: String) -> String? {
        var mapped = String.UnicodeScalarView()
        for scalar in password.unicodeScalars {
            if contains(nonASCIISpaces, scalar) {
                mapped.append(" ")
            } else if !contains(mappedToNothing, scalar) {
                mapped.append(scalar)
            }
        }
        guard !mapped.isEmpty else { return nil }
        let result = String(mapped).precomposedStringWithCompatibilityMapping
        let scalars = Array(result.unicodeScalars)
        for scalar in scalars where contains(prohibited, scalar) || isUnassignedInUnicode32(scalar) { return nil }
        if scalars.contains(where: isRandALCat) {
            guard let first = scalars.first, let last = scalars.last, isRandALCat(first), isRandALCat(last) else { return nil }
            if scalars.contains(where: isLCat) { return nil }
        }
        return result
    }

    typealias Ranges = [ClosedRange<UInt32>]

    static func contains(_ ranges: Ranges, _ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) }
    }

    /// RFC 3454 A.1: code points unassigned in Unicode 3.2, that is assigned later or never.
    static func isUnassignedInUnicode32(_ scalar: Unicode.Scalar) -> Bool {
        guard let age = scalar.properties.age else { return true }
        return age.major > 3 || (age.major == 3 && age.minor > 2)
    }

    static func isRandALCat(_ scalar: Unicode.Scalar) -> Bool { contains(randALCat, scalar) }

    /// Approximates RFC 3454 D.2 (bidirectional class L): letters and spacing marks that are not right-to-left.
    static func isLCat(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .spacingMark: !isRandALCat(scalar)
        default: false
        }
    }

    /// RFC 3454 C.1.2, mapped to a space.
    static let nonASCIISpaces: Ranges = [0x00A0...0x00A0, 0x1680...0x1680, 0x2000...0x200B, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000]

    /// RFC 3454 B.1, mapped to nothing.
    static let mappedToNothing: Ranges = [
        0x00AD...0x00AD, 0x034F...0x034F, 0x1806...0x1806, 0x180B...0x180D, 0x200B...0x200D, 0x2060...0x2060, 0xFE00...0xFE0F,
        0xFEFF...0xFEFF,
    ]

    /// RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9: what SASLprep's output may not contain.
    static let prohibited: Ranges =
        nonASCIISpaces + [
            // C.2.1 and C.2.2: control characters.
            0x0000...0x001F, 0x007F...0x009F, 0x06DD...0x06DD, 0x070F...0x070F, 0x180E...0x180E, 0x200C...0x200D, 0x2028...0x2029,
            0x2060...0x2063, 0x206A...0x206F, 0xFEFF...0xFEFF, 0xFFF9...0xFFFC, 0x1D173...0x1D17A,
            // C.3 private use, C.5 surrogates, C.6 inappropriate for plain text, C.7 for canonical representation.
            0xE000...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD, 0xD800...0xDFFF, 0xFFF9...0xFFFD, 0x2FF0...0x2FFB,
            // C.8 display-changing and deprecated, C.9 tags.
            0x0340...0x0341, 0x200E...0x200F, 0x202A...0x202E, 0xE0001...0xE0001, 0xE0020...0xE007F,
            // C.4 non-characters.
            0xFDD0...0xFDEF,
        ] + nonCharactersAtPlaneEnds

    /// C.4's last two code points of each of the 17 planes (U+FFFE, U+FFFF, U+1FFFE, …).
    static let nonCharactersAtPlaneEnds: Ranges = (0..<17).map { (plane: UInt32) -> ClosedRange<UInt32> in
        let base = plane << 16
        return (base + 0xFFFE)...(base + 0xFFFF)
    }

    /// RFC 3454 D.1: characters with bidirectional class R or AL (Unicode 3.2).
    static let randALCat: Ranges = [
        0x05BE...0x05BE, 0x05C0...0x05C0, 0x05C3...0x05C3, 0x05D0...0x05EA, 0x05F0...0x05F4, 0x061B...0x061B, 0x061F...0x061F,
        0x0621...0x063A, 0x0640...0x064A, 0x066D...0x066F, 0x0671...0x06D5, 0x06DD...0x06DD, 0x06E5...0x06E6, 0x06FA...0x06FE,
        0x0700...0x070D, 0x0710...0x0710, 0x0712...0x072C, 0x0780...0x07A5, 0x07B1...0x07B1, 0x200F...0x200F, 0xFB1D...0xFB1D,
        0xFB1F...0xFB28, 0xFB2A...0xFB36, 0xFB38...0xFB3C, 0xFB3E...0xFB3E, 0xFB40...0xFB41, 0xFB43...0xFB44, 0xFB46...0xFBB1,
        0xFBD3...0xFD3D, 0xFD50...0xFD8F, 0xFD92...0xFDC7, 0xFDF0...0xFDFC, 0xFE70...0xFE74, 0xFE76...0xFEFC,
    ]
}
