/// The one place the release version is written, so `dovetail --version`, `GET /health` and the image's
/// labels (`docker build --build-arg VERSION=$(dovetail --version)`) can never disagree.
public enum DovetailVersion {
    public static let current = "0.1.0"
}
