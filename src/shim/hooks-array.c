/*
 * hooks-array.c - libmigshim's hooks for CUDA arrays and mipmapped arrays, and the size the
 * shim charges for them.
 *
 * A driver lays arrays out in its own tiled formats, with padding no API reports (the
 * memory-requirements query exists only for deferred-mapping arrays). What it takes was
 * measured instead (H200, driver 580.159.04; docs/shim.md, "Charging"): the size the
 * descriptor describes rounded up to whole pages, in every case (1000x1000 float4: 16000000 ->
 * 16777216; 17x3 u8 -> 2 MiB; a 1024x1024 float4 mipmap of 11 levels: 22369616 -> 23068672;
 * power-of-two sizes exactly). The shim therefore charges the descriptor's size (bits per
 * element x width x height x depth, summed over the mip levels, with block-compressed formats
 * counted in whole 4x4 blocks) in whole pages (mk__shim_paged_charge). Sparse and
 * deferred-mapping arrays have no memory of their own (it comes from cuMemCreate, charged
 * there) and are charged nothing. A format the shim does not know is refused
 * (CUDA_ERROR_NOT_SUPPORTED) rather than charged a guess.
 */
#include <errno.h>

#include "shim/shim.h"

/* Bits per element of format f with n channels, and the block edge (1, or 4 for
 * block-compressed formats, whose bits are per 4x4 block). 0 for an unknown format. Planar
 * YUV formats count all their planes per pixel (NV12: 8 bits of luma + 4 of chroma). */
static uint64_t format_bits(CUarray_format f, unsigned int n, unsigned *block)
{
    *block = 1;
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
        return 8u * n;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
        return 16u * n;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
        return 32u * n;
    case CU_AD_FORMAT_UNORM_INT8X1:
    case CU_AD_FORMAT_SNORM_INT8X1:
        return 8;
    case CU_AD_FORMAT_UNORM_INT8X2:
    case CU_AD_FORMAT_SNORM_INT8X2:
    case CU_AD_FORMAT_UNORM_INT16X1:
    case CU_AD_FORMAT_SNORM_INT16X1:
    case CU_AD_FORMAT_NV16:
    case CU_AD_FORMAT_YUY2:
        return 16;
    case CU_AD_FORMAT_NV12:
        return 12;
    case CU_AD_FORMAT_P010:
    case CU_AD_FORMAT_P016:
    case CU_AD_FORMAT_Y444_PLANAR8:
    case CU_AD_FORMAT_YUV444_8bit_SemiPlanar:
        return 24;
    case CU_AD_FORMAT_UNORM_INT8X4:
    case CU_AD_FORMAT_SNORM_INT8X4:
    case CU_AD_FORMAT_UNORM_INT16X2:
    case CU_AD_FORMAT_SNORM_INT16X2:
    case CU_AD_FORMAT_UNORM_INT_101010_2:
    case CU_AD_FORMAT_P210:
    case CU_AD_FORMAT_P216:
    case CU_AD_FORMAT_Y210:
    case CU_AD_FORMAT_Y216:
    case CU_AD_FORMAT_AYUV:
    case CU_AD_FORMAT_Y410:
        return 32;
    case CU_AD_FORMAT_Y444_PLANAR10:
    case CU_AD_FORMAT_YUV444_16bit_SemiPlanar:
        return 48;
    case CU_AD_FORMAT_UNORM_INT16X4:
    case CU_AD_FORMAT_SNORM_INT16X4:
    case CU_AD_FORMAT_Y416:
        return 64;
    case CU_AD_FORMAT_BC1_UNORM:
    case CU_AD_FORMAT_BC1_UNORM_SRGB:
    case CU_AD_FORMAT_BC4_UNORM:
    case CU_AD_FORMAT_BC4_SNORM:
        *block = 4;
        return 64; /* 8 bytes per block */
    case CU_AD_FORMAT_BC2_UNORM:
    case CU_AD_FORMAT_BC2_UNORM_SRGB:
    case CU_AD_FORMAT_BC3_UNORM:
    case CU_AD_FORMAT_BC3_UNORM_SRGB:
    case CU_AD_FORMAT_BC5_UNORM:
    case CU_AD_FORMAT_BC5_SNORM:
    case CU_AD_FORMAT_BC6H_UF16:
    case CU_AD_FORMAT_BC6H_SF16:
    case CU_AD_FORMAT_BC7_UNORM:
    case CU_AD_FORMAT_BC7_UNORM_SRGB:
        *block = 4;
        return 128; /* 16 bytes per block */
    default:
        return 0;
    }
}

/* max(v, 1): a dimension of 0 means the array has fewer dimensions. */
static uint64_t at_least_1(uint64_t v)
{
    return v ? v : 1;
}

/* Bytes of one w x h x d level: bits per element (or block) x elements, rounded up to a
 * byte. -EOVERFLOW when it does not fit 64 bits. */
static int level_bytes(uint64_t bits, unsigned block, uint64_t w, uint64_t h, uint64_t d,
                       uint64_t *ret)
{
    uint64_t n;
    w = (w + block - 1) / block;
    h = (h + block - 1) / block;
    if (__builtin_mul_overflow(w, h, &n) || __builtin_mul_overflow(n, d, &n) ||
        __builtin_mul_overflow(n, bits, &n))
        return -EOVERFLOW;
    *ret = n / 8 + (n % 8 != 0);
    return 0;
}

int mk__shim_array_bytes(const CUDA_ARRAY3D_DESCRIPTOR *a, unsigned int levels, uint64_t *ret)
{
    unsigned block;
    uint64_t bits = format_bits(a->Format, a->NumChannels, &block), total = 0;
    /* Layers and cube faces are not mip-mapped: the depth stays at every level. */
    bool keep_depth = (a->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP)) != 0;
    if (!bits)
        return -ENOTSUP;
    if (a->Flags & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING)) {
        *ret = 0;
        return 0;
    }
    for (unsigned int l = 0; l < levels && l < 64; l++) {
        uint64_t n;
        uint64_t d = keep_depth ? at_least_1(a->Depth) : at_least_1((uint64_t)a->Depth >> l);
        if (level_bytes(bits, block, at_least_1((uint64_t)a->Width >> l),
                        at_least_1((uint64_t)a->Height >> l), d, &n) < 0 ||
            __builtin_add_overflow(total, n, &total))
            return -EOVERFLOW;
    }
    *ret = total;
    return 0;
}

/* Creates an array with create(), charged from its descriptor in whole pages; kind says which
 * table. */
static CUresult create_array(enum mk_shim_kind kind, const CUDA_ARRAY3D_DESCRIPTOR *a,
                             unsigned int levels, CUresult (*create)(void *, void **), void *arg,
                             void **handle)
{
    uint64_t bytes;
    CUresult r;
    int e;
    if (mk__shim_state() < 0)
        return CUDA_ERROR_NOT_PERMITTED;
    if ((e = mk__shim_array_bytes(a, levels, &bytes)) < 0)
        return e == -ENOTSUP ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    bytes = mk__shim_paged_charge(bytes);
    if ((e = mk__shim_charge(bytes, true)) < 0)
        return e == -ENOSPC || e == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
    r = create(arg, handle);
    if (r == CUDA_SUCCESS)
        mk__shim_commit(kind, (uint64_t)(uintptr_t)*handle, bytes, mk__shim_context());
    else
        mk__shim_uncharge(bytes, true);
    return r;
}

/* The driver calls behind create_array, with their arguments. */
struct array_args {
    const void *desc;
    unsigned int levels;
};

static CUresult real_array(void *arg, void **h)
{
    return mk__shim_cuda()->cuArrayCreate_v2((CUarray *)h, ((struct array_args *)arg)->desc);
}

static CUresult real_array3d(void *arg, void **h)
{
    return mk__shim_cuda()->cuArray3DCreate_v2((CUarray *)h, ((struct array_args *)arg)->desc);
}

static CUresult real_mipmap(void *arg, void **h)
{
    struct array_args *a = arg;
    return mk__shim_cuda()->cuMipmappedArrayCreate((CUmipmappedArray *)h, a->desc, a->levels);
}

MK_SHIM_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *desc)
{
    struct array_args args = {desc, 1};
    CUDA_ARRAY3D_DESCRIPTOR a;
    if (!mk__shim_cuda()->cuArrayCreate_v2)
        return MK_SHIM_MISSING;
    if (!desc || !pHandle)
        return CUDA_ERROR_INVALID_VALUE;
    a = (CUDA_ARRAY3D_DESCRIPTOR){.Width = desc->Width,
                                  .Height = desc->Height,
                                  .Format = desc->Format,
                                  .NumChannels = desc->NumChannels};
    return create_array(MK_SHIM_ARRAY, &a, 1, real_array, &args, (void **)pHandle);
}

MK_SHIM_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *desc)
{
    struct array_args args = {desc, 1};
    if (!mk__shim_cuda()->cuArray3DCreate_v2)
        return MK_SHIM_MISSING;
    if (!desc || !pHandle)
        return CUDA_ERROR_INVALID_VALUE;
    return create_array(MK_SHIM_ARRAY, desc, 1, real_array3d, &args, (void **)pHandle);
}

MK_SHIM_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                               const CUDA_ARRAY3D_DESCRIPTOR *desc,
                                               unsigned int numMipmapLevels)
{
    struct array_args args = {desc, numMipmapLevels};
    if (!mk__shim_cuda()->cuMipmappedArrayCreate)
        return MK_SHIM_MISSING;
    if (!desc || !pHandle)
        return CUDA_ERROR_INVALID_VALUE;
    return create_array(MK_SHIM_MIPMAP, desc, numMipmapLevels, real_mipmap, &args,
                        (void **)pHandle);
}

/* Destroys (kind, h) with destroy(h), giving its charge back on success. */
static CUresult destroy_array(enum mk_shim_kind kind, void *h, CUresult (*destroy)(void *))
{
    struct mk_shim_entry e;
    bool counted = h && mk__shim_forget(kind, (uint64_t)(uintptr_t)h, &e);
    CUresult r = destroy(h);
    if (counted && r == CUDA_SUCCESS)
        mk__shim_credit(e.bytes);
    else if (counted)
        mk__shim_restore(&e);
    return r;
}

static CUresult real_destroy(void *h)
{
    return mk__shim_cuda()->cuArrayDestroy((CUarray)h);
}

static CUresult real_destroy_mipmap(void *h)
{
    return mk__shim_cuda()->cuMipmappedArrayDestroy((CUmipmappedArray)h);
}

MK_SHIM_EXPORT CUresult cuArrayDestroy(CUarray hArray)
{
    if (!mk__shim_cuda()->cuArrayDestroy)
        return MK_SHIM_MISSING;
    return destroy_array(MK_SHIM_ARRAY, hArray, real_destroy);
}

MK_SHIM_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
    if (!mk__shim_cuda()->cuMipmappedArrayDestroy)
        return MK_SHIM_MISSING;
    return destroy_array(MK_SHIM_MIPMAP, hMipmappedArray, real_destroy_mipmap);
}
