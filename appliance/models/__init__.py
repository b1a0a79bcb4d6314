"""The peewee models. ALL_MODELS is in dependency order (tables are created in it)."""
from appliance.models.accounts import Account, OrganizationMember, SignInFailure
from appliance.models.api import ApiRateWindow
from appliance.models.audit import AuditEvent
from appliance.models.billing import OwnerTransfer, SpendingLimit
from appliance.models.jobs import JobStatus, OwnerStorage, SchedulerLease, StorageUsage
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageTag, PackageVersion
from appliance.models.repositories import Collaborator, Repository
from appliance.models.settings import Setting
from appliance.models.tokens import Token
from appliance.models.uploads import BlobUpload, StagedBlob, VersionSubject
from appliance.models.webhooks import Hook, HookDelivery

ALL_MODELS = [
    Account,
    OrganizationMember,
    Repository,
    Collaborator,
    Token,
    Blob,
    Package,
    PackageVersion,
    PackageFile,
    PackageTag,
    DownloadCount,
    AuditEvent,
    Setting,
    SchedulerLease,
    JobStatus,
    StorageUsage,
    OwnerStorage,
    OwnerTransfer,
    SpendingLimit,
    BlobUpload,
    StagedBlob,
    VersionSubject,
    ApiRateWindow,
    Hook,
    HookDelivery,
    SignInFailure,
]

__all__ = [m.__name__ for m in ALL_MODELS] + ["ALL_MODELS"]
